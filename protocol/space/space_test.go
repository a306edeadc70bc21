package space

import (
	"testing"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
)

func key(t testing.TB, s string) crypto.PrivKey {
	k, err := crypto.GenerateKeyFrom(golden.Reader(s))
	require.NoError(t, err)
	return k
}

func TestHeader(t *testing.T) {
	k := key(t, "creator")
	h, err := NewHeader(k, 1700000000000)
	require.NoError(t, err)
	h2, err := Verify(h.Raw)
	require.NoError(t, err)
	require.Equal(t, h.ID, h2.ID)
	require.Equal(t, k.Public(), h2.Creator)
	_, err = crypto.ParseSpaceID(string(h.ID))
	require.NoError(t, err)
	other, err := NewHeader(k, 1700000000000)
	require.NoError(t, err)
	require.NotEqual(t, h.ID, other.ID)
	bad := append([]byte(nil), h.Raw...)
	bad[len(bad)-1] ^= 1
	_, err = Verify(bad)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestAccountSpaceDeterministic(t *testing.T) {
	k := key(t, "account")
	a, err := AccountSpace(k)
	require.NoError(t, err)
	k2, err := crypto.UnmarshalPrivKey(k.Marshal()) // "another device" with the same key
	require.NoError(t, err)
	b, err := AccountSpace(k2)
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, a.Raw, b.Raw)
	require.Equal(t, syncpb.SpaceType_SPACE_TYPE_ACCOUNT, a.Type)
	require.Equal(t, AccountSpaceReadKey(k).ID(), AccountSpaceReadKey(k2).ID())
	c, err := AccountSpace(key(t, "other"))
	require.NoError(t, err)
	require.NotEqual(t, a.ID, c.ID)
}

func TestDeleteRequest(t *testing.T) {
	k := key(t, "owner")
	raw, err := NewDeleteRequest(k, crypto.SpaceID(crypto.Sum([]byte("s"))), 5, true)
	require.NoError(t, err)
	r, err := VerifyDeleteRequest(raw)
	require.NoError(t, err)
	require.True(t, r.Cancel)
	require.Equal(t, k.Public(), r.Author)
}

func TestGolden(t *testing.T) {
	k := key(t, "creator")
	h, err := NewHeaderWithRand(golden.Reader("seed"), k, 1700000000000)
	require.NoError(t, err)
	a, err := AccountSpace(k)
	require.NoError(t, err)
	del, err := NewDeleteRequest(k, h.ID, 1700000000001, false)
	require.NoError(t, err)
	golden.Check(t, "space", map[string][]byte{
		"header":                 h.Raw,
		"header_id":              []byte(h.ID),
		"account_space_header":   a.Raw,
		"account_space_id":       []byte(a.ID),
		"account_space_read_key": []byte(AccountSpaceReadKey(k).ID()),
		"delete_request":         del,
	})
}

func FuzzVerify(f *testing.F) {
	k, _ := crypto.GenerateKeyFrom(golden.Reader("creator"))
	h, _ := NewHeaderWithRand(golden.Reader("seed"), k, 1)
	f.Add(h.Raw)
	del, _ := NewDeleteRequest(k, h.ID, 1, false)
	f.Add(del)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Verify(b)
		_, _ = VerifyDeleteRequest(b)
	})
}

func TestGoldenDecodes(t *testing.T) {
	g := golden.Load(t, "space")
	h, err := Verify(g["header"])
	require.NoError(t, err)
	require.Equal(t, string(g["header_id"]), string(h.ID))
	a, err := Verify(g["account_space_header"])
	require.NoError(t, err)
	require.Equal(t, string(g["account_space_id"]), string(a.ID))
	_, err = VerifyDeleteRequest(g["delete_request"])
	require.NoError(t, err)
}
