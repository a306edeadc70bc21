package store

import (
	"testing"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// FuzzDecoders feeds arbitrary stored bytes to every badger value decoder: they fail
// cleanly (Corrupt), never panic, and round-trip what they accept.
func FuzzDecoders(f *testing.F) {
	f.Add(statusBytes(Status{Code: 1, DeletionAt: 5, LastRequest: 7, Purged: true}))
	f.Add(encodeObject(3, []crypto.ChangeID{"a", "b"}))
	f.Add([]byte{2, 'i', 'd', 'r', 'a', 'w'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := parseStatus(b); err == nil {
			if st2, err := parseStatus(statusBytes(st)); err != nil || st2 != st {
				t.Fatalf("status round trip: %v %v", st, err)
			}
		}
		if n, heads, err := decodeObject(b); err == nil {
			if n2, heads2, err := decodeObject(encodeObject(n, heads)); err != nil || n2 != n || !equalHeads(heads, heads2) {
				t.Fatalf("object round trip")
			}
		}
		_, _ = changeOf(b)
		_, _ = parseSeq(b)
	})
}
