package node

import (
	"context"
	"maps"
	"strings"
	"sync"

	"google.golang.org/grpc"
)

// callCounts counts the calls the node served, by method: what an idle
// device costs the node is read from it (tests and benchmarks), and an
// operator can log it.
type callCounts struct {
	mu    sync.Mutex // guards calls
	calls map[string]uint64
}

func (c *callCounts) add(fullMethod string) {
	name := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]uint64{}
	}
	c.calls[name]++
	c.mu.Unlock()
}

// Calls returns how many calls of each method (its short name: "HeadSync",
// "AclLog", "Subscribe" …) the node has received since it started,
// authenticated or not.
func (n *Node) Calls() map[string]uint64 {
	n.counts.mu.Lock()
	defer n.counts.mu.Unlock()
	return maps.Clone(n.counts.calls)
}

func (n *Node) countUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	n.counts.add(info.FullMethod)
	return h(ctx, req)
}

func (n *Node) countStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	n.counts.add(info.FullMethod)
	return h(srv, ss)
}
