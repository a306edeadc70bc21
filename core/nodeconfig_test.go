package core

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestNodeAddrs(t *testing.T) {
	for _, tc := range []struct {
		node      string
		fallbacks []string
		want      []string
	}{
		{"", nil, nil},
		{"a:1", nil, []string{"a:1"}},
		{"a:1", []string{"b:2", "", "a:1", "c:3", "b:2"}, []string{"a:1", "b:2", "c:3"}},
	} {
		assert.Equal(t, tc.want, Config{Node: tc.node, NodeFallbacks: tc.fallbacks}.nodeAddrs(), "%q %q", tc.node, tc.fallbacks)
	}
}

type fakeConn struct {
	syncengine.Conn
	addr string
}

// The dialer tries the addresses in order, keeps to the one that answered,
// and reports every address's error when none answers.
func TestNodeDialerFallsBackAndSticks(t *testing.T) {
	up := map[string]bool{"b:2": true}
	var tried []string
	d := newNodeDialer([]string{"a:1", "b:2", "c:3"})
	dial := d.dial(func(ctx context.Context, addr string) (syncengine.Conn, error) {
		tried = append(tried, addr)
		if _, ok := ctx.Deadline(); !ok {
			t.Errorf("dialing %s without a deadline", addr)
		}
		if up[addr] {
			return fakeConn{addr: addr}, nil
		}
		return nil, fmt.Errorf("%s refused", addr)
	})
	ctx := context.Background()
	c, err := dial(ctx)
	require.NoError(t, err)
	assert.Equal(t, "b:2", c.(fakeConn).addr)
	assert.Equal(t, []string{"a:1", "b:2"}, tried)

	tried = nil
	_, err = dial(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"b:2"}, tried, "the address that answered last goes first")

	up = map[string]bool{"a:1": true}
	tried = nil
	c, err = dial(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a:1", c.(fakeConn).addr)
	assert.Equal(t, []string{"b:2", "c:3", "a:1"}, tried, "then around")

	up = map[string]bool{}
	_, err = dial(ctx)
	for _, a := range []string{"a:1", "b:2", "c:3"} {
		assert.ErrorContains(t, err, a+" refused")
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tried = nil
	_, err = dial(cancelled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Len(t, tried, 1, "a cancelled dial stops at once")
}

func TestParseNodeKey(t *testing.T) {
	k, err := parseNodeKey("")
	require.NoError(t, err)
	assert.Nil(t, k)
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	k, err = parseNodeKey(key.Public().Identity())
	require.NoError(t, err)
	assert.Equal(t, key.Public(), *k)
	for _, bad := range []crypto.Identity{"x", "key=" + key.Public().Identity(), key.Public().Identity() + "a"} {
		_, err := parseNodeKey(bad)
		assert.True(t, errkind.Is(err, errkind.Invalid), "%q: %v", bad, err)
	}
	_, err = Open(Config{DataDir: t.TempDir(), NodeKey: "not a key"})
	assert.True(t, errkind.Is(err, errkind.Invalid), "Open refuses a bad key: %v", err)
}

// A configured key is pinned when the account has none, accepted when it is
// the pinned one, and a conflict (never a silent re-pin) otherwise.
func TestConfiguredNodeKey(t *testing.T) {
	db, err := badgerdb.Open(t.TempDir(), false, quietLog)
	require.NoError(t, err)
	defer db.Close()
	one, err := crypto.GenerateKey()
	require.NoError(t, err)
	other, err := crypto.GenerateKey()
	require.NoError(t, err)
	k1, k2 := one.Public(), other.Public()

	p, err := loadPinnedKey(db)
	require.NoError(t, err)
	conflict, err := p.configure(nil)
	require.NoError(t, err)
	assert.NoError(t, conflict)
	_, ok := p.get()
	assert.False(t, ok, "no configured key pins nothing")

	conflict, err = p.configure(&k1)
	require.NoError(t, err)
	assert.NoError(t, conflict)
	p, err = loadPinnedKey(db)
	require.NoError(t, err)
	got, ok := p.get()
	assert.True(t, ok && got == k1, "the configured key is pinned durably")

	conflict, err = p.configure(&k1)
	require.NoError(t, err)
	assert.NoError(t, conflict)

	conflict, err = p.configure(&k2)
	require.NoError(t, err)
	assert.True(t, errors.Is(conflict, syncclient.ErrNodeKeyMismatch), "%v", conflict)
	assert.ErrorContains(t, conflict, string(k1.Identity()))
	got, _ = p.get()
	assert.Equal(t, k1, got, "the pinned key is not replaced")
}
