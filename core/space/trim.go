package space

import (
	"context"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Trim frees what a loaded space holds in memory that it can rebuild: the
// actor's object cache, and the open databases of its store and index
// (they reopen, in about 10 ms, on the next use). The space stays loaded:
// sync, status and subscriptions go on. For memory pressure on a phone.
func (s *Space) Trim(ctx context.Context) error {
	err := s.do(ctx, func() error {
		s.objects = map[crypto.ObjectID]*object{}
		return nil
	})
	s.store.Sleep()
	s.index.Sleep()
	return err
}

// Trim trims every loaded space (Space.Trim).
func (s *Service) Trim(ctx context.Context) error {
	s.mu.Lock()
	spaces := make([]*Space, 0, len(s.loaded))
	for _, sp := range s.loaded {
		spaces = append(spaces, sp)
	}
	s.mu.Unlock()
	var first error
	for _, sp := range spaces {
		if err := sp.Trim(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
