package core

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

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
