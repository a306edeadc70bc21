package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Rate limiting of unauthenticated calls (Hello, Auth, and calls whose session does not
// verify) per source address (DESIGN §5, §12: a 10k-Hello flood must not lock out a real
// device). Each address has a token bucket: Config.UnauthBurst calls at once, refilled at
// Config.UnauthRate per second. IPv6 addresses count per /64, the block one subscriber
// usually holds.
//
// The table is bounded: when it holds maxLimitedAddrs addresses, buckets that refilled
// completely are dropped (a full bucket is the same as a new one, so nothing is
// forgotten); if every one is still draining, addresses not in the table share one
// overflow bucket, so a flood from very many addresses slows new addresses down together
// rather than growing memory.
//
// The address is the TCP peer's. Behind a load balancer that hides it (every call seems
// to come from the balancer), use one that keeps the client's address (direct routing or
// transparent mode): this node does not read forwarding headers, which anyone can forge.

// maxLimitedAddrs bounds the rate limiter's table.
const maxLimitedAddrs = 16384

// Defaults of Config.UnauthRate and UnauthBurst: a device needs two calls (Hello, Auth) to
// connect, so this lets a few dozen devices behind one address reconnect at once.
const (
	DefaultUnauthRate  = 20
	DefaultUnauthBurst = 40
)

type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b to now and takes one token if there is one.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(burst, b.tokens+el*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether b would be full at now (and so equal to a fresh bucket).
func (b *bucket) full(now time.Time, rate, burst float64) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= burst
}

// limiter is the per-address table. mu guards addrs and overflow; it is never held
// across I/O.
type limiter struct {
	rate, burst float64

	mu        sync.Mutex
	addrs     map[netip.Addr]*bucket
	overflow  bucket
	lastPrune time.Time
}

func (l *limiter) init(rate float64, burst int) {
	l.rate, l.burst = rate, float64(burst)
	l.addrs = map[netip.Addr]*bucket{}
	l.overflow.tokens = l.burst
}

// addrKey is the key of a peer address: the IP, IPv6 masked to its /64; the zero Addr for
// a peer that is not IP (one bucket for all of those).
func addrKey(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch t := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(t.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(t.IP)
	default:
		if a != nil {
			if ap, err := netip.ParseAddrPort(a.String()); err == nil {
				ip = ap.Addr()
			}
		}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// allow takes a token for the call's peer or answers ResourceExhausted.
func (l *limiter) allow(ctx context.Context, now time.Time) error {
	var key netip.Addr
	if p, ok := peer.FromContext(ctx); ok {
		key = addrKey(p.Addr)
	}
	if l.take(key, now) {
		return nil
	}
	return status.Error(codes.ResourceExhausted, fmt.Sprintf("too many unauthenticated calls from %v: retry in a second", key))
}

func (l *limiter) take(key netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.addrs[key]
	if b == nil {
		if len(l.addrs) >= maxLimitedAddrs {
			l.pruneLocked(now)
		}
		if len(l.addrs) >= maxLimitedAddrs {
			return l.overflow.take(now, l.rate, l.burst)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.addrs[key] = b
	}
	return b.take(now, l.rate, l.burst)
}

// pruneLocked drops full buckets, at most once a second (a table full of draining buckets
// is not scanned on every call).
func (l *limiter) pruneLocked(now time.Time) {
	if now.Sub(l.lastPrune) < time.Second {
		return
	}
	l.lastPrune = now
	for k, b := range l.addrs {
		if b.full(now, l.rate, l.burst) {
			delete(l.addrs, k)
		}
	}
}

// size is the number of addresses in the table (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}
