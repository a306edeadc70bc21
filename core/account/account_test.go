package account

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(ioDiscard{}, nil))

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

func newService(t *testing.T, dir string) *Service {
	t.Helper()
	s := NewService(dir, quiet, func() time.Time { return time.UnixMilli(1_700_000_000_000) })
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestCreateStoresKeysPrivately(t *testing.T) {
	dir := t.TempDir()
	s := newService(t, dir)
	info, mnemonic, err := s.Create("Ada")
	require.NoError(t, err)
	assert.Len(t, strings.Fields(mnemonic), 12)
	assert.Equal(t, "Ada", info.Name)
	assert.NotEqual(t, info.ID, info.DeviceID)

	layout := datadir.Layout{Root: dir}
	st, err := os.Stat(layout.Keys(string(info.ID)))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "key file must be 0600")
	_, err = os.Stat(layout.AccountDB(string(info.ID)))
	require.NoError(t, err, "the account database exists")

	acc, err := s.Current()
	require.NoError(t, err)
	// Key material never prints, however it is formatted.
	seed := acc.Keys().Account.Marshal()
	for _, text := range []string{fmt.Sprint(acc.Keys()), fmt.Sprintf("%+v", acc.Keys()), fmt.Sprintf("%#v", acc.Keys().Device)} {
		assert.NotContains(t, text, fmt.Sprint(seed))
		assert.NotContains(t, text, fmt.Sprintf("%x", seed))
	}
}

func TestRecoverOnSecondDataDirGivesSameAccountNewDevice(t *testing.T) {
	a := newService(t, t.TempDir())
	created, mnemonic, err := a.Create("Ada")
	require.NoError(t, err)

	b := newService(t, t.TempDir())
	recovered, err := b.Recover("  "+strings.ToUpper(mnemonic)+"  ", "")
	require.NoError(t, err)
	assert.Equal(t, created.ID, recovered.ID, "same mnemonic, same account")
	assert.NotEqual(t, created.DeviceID, recovered.DeviceID, "a new device")

	// Recovering again on the same data dir keeps the device.
	again, err := b.Recover(mnemonic, "Ada B")
	require.NoError(t, err)
	assert.Equal(t, recovered.DeviceID, again.DeviceID)
	assert.Equal(t, "Ada B", again.Name)
}

func TestRecoverRejectsBadMnemonic(t *testing.T) {
	s := newService(t, t.TempDir())
	for _, m := range []string{"", "hello world", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon"} {
		_, err := s.Recover(m, "")
		require.Error(t, err, "%q", m)
		assert.True(t, errkind.Is(err, errkind.Invalid), "%q: %v", m, err)
	}
	_, err := s.Current()
	assert.True(t, errkind.Is(err, errkind.Precondition))
}

func TestSelectLastAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := NewService(dir, quiet, nil)
	info, _, err := s.Create("Ada")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2 := newService(t, dir)
	got, ok, err := s2.SelectLast()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, info, got)
	ids, err := s2.List()
	require.NoError(t, err)
	assert.Equal(t, []crypto.Identity{info.ID}, ids)
}

func TestSelectErrors(t *testing.T) {
	dir := t.TempDir()
	s := newService(t, dir)
	_, err := s.Select("../../etc")
	assert.True(t, errkind.Is(err, errkind.Invalid), "%v", err)
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	_, err = s.Select(string(key.Public().Identity()))
	assert.True(t, errkind.Is(err, errkind.NotFound), "%v", err)

	info, _, err := s.Create("Ada")
	require.NoError(t, err)
	require.NoError(t, s.Stop())
	keys := datadir.Layout{Root: dir}.Keys(string(info.ID))
	require.NoError(t, os.WriteFile(keys, []byte(`{"version":1,"account":"AAAA"}`), 0o600))
	_, err = s.Select(string(info.ID))
	assert.True(t, errkind.Is(err, errkind.Corrupt), "a damaged key file is reported, not crashed on: %v", err)
}

func TestCreateSwitchesAccounts(t *testing.T) {
	s := newService(t, t.TempDir())
	first, _, err := s.Create("one")
	require.NoError(t, err)
	second, _, err := s.Create("two")
	require.NoError(t, err)
	acc, err := s.Current()
	require.NoError(t, err)
	assert.Equal(t, second.ID, acc.Info().ID)
	back, err := s.Select(string(first.ID))
	require.NoError(t, err)
	assert.Equal(t, "one", back.Name)
}

func TestKeysRoundTripAndTamper(t *testing.T) {
	acc, err := crypto.GenerateKey()
	require.NoError(t, err)
	other, err := crypto.GenerateKey()
	require.NoError(t, err)
	s := NewService(t.TempDir(), quiet, nil)
	keys, err := s.newDevice(acc)
	require.NoError(t, err)
	raw, err := encodeKeys(keys)
	require.NoError(t, err)
	got, err := decodeKeys(raw)
	require.NoError(t, err)
	assert.Equal(t, keys.Account.Public(), got.Account.Public())
	assert.Equal(t, keys.Device.Public(), got.Device.Public())

	// A certificate for another device is refused.
	swapped := keys
	swapped.Device = other
	raw, err = encodeKeys(swapped)
	require.NoError(t, err)
	_, err = decodeKeys(raw)
	assert.ErrorContains(t, err, "another account or device")
}

func FuzzDecodeKeys(f *testing.F) {
	acc, _ := crypto.UnmarshalPrivKey(make([]byte, 32))
	s := NewService(f.TempDir(), quiet, nil)
	keys, _ := s.newDevice(acc)
	good, _ := encodeKeys(keys)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"account":"","device":null}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKeys(b)
		if err == nil && (k.Account.IsZero() || k.Device.IsZero()) {
			t.Fatal("accepted a keys file without keys")
		}
	})
}
