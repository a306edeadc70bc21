package node

import "context"

// JanitorTick runs one janitor tick (tests of the janitor lease).
func JanitorTick(n *Node, ctx context.Context) (bool, error) { return n.janitorTick(ctx) }

// FeedUp is closed once the node listens to its shared store's feed.
func FeedUp(n *Node) <-chan struct{} { return n.feedUp }
