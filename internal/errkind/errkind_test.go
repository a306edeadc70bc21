package errkind

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKindSurvivesWrapping(t *testing.T) {
	base := errors.New("disk full")
	for _, tc := range []struct {
		name string
		err  error
		kind Kind
		msg  string
	}{
		{"plain", base, Other, "disk full"},
		{"kinded", E("store.put", Transient, base), Transient, "disk full"},
		{"wrapped by fmt", fmt.Errorf("saving: %w", E("store.put", NotFound, base)), NotFound, "saving: store.put: disk full"},
		{"outer Other keeps inner kind", E("outer", Other, E("inner", Locked, base)), Locked, "disk full"},
		{"no cause", E("op", Removed, nil), Removed, "removed"},
		{"errorf", Errorf("op", Invalid, "bad %d", 3), Invalid, "bad 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.kind, Of(tc.err))
			assert.True(t, Is(tc.err, tc.kind))
			assert.Equal(t, tc.msg, Message(tc.err))
		})
	}
	assert.ErrorIs(t, E("op", Corrupt, base), base, "the cause stays reachable")
	assert.Equal(t, "kind(99)", Kind(99).String())
}
