package node

import (
	"testing"

	"github.com/hearth-sync/hearth/pb/syncpb"
)

// FuzzParentsOf feeds arbitrary stored change bytes to the parent decoder used by Fetch.
func FuzzParentsOf(f *testing.F) {
	p, _ := (&syncpb.Change{Parents: []string{"a", "b"}}).Marshal()
	env, _ := (&syncpb.Signed{Payload: p}).Marshal()
	f.Add(env)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parentsOf(b)
	})
}
