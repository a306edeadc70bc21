package signed

import (
	"testing"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
)

func TestSignVerify(t *testing.T) {
	k, err := crypto.GenerateKeyFrom(golden.Reader("k"))
	require.NoError(t, err)
	raw, err := Sign(k, DomainChange, []byte("payload"))
	require.NoError(t, err)
	env, err := Verify(raw, DomainChange, 1024)
	require.NoError(t, err)
	require.Equal(t, k.Public(), env.Signer)
	require.Equal(t, crypto.Sum([]byte("payload")), env.ID)
	_, err = Verify(raw, DomainAclRecord, 1024)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = Verify(raw, DomainChange, 10)
	require.ErrorIs(t, err, ErrInvalid)
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 0x40
		if _, err := Verify(bad, DomainChange, 1024); err == nil {
			t.Fatalf("flipped byte %d verified", i)
		}
	}
	golden.Check(t, "signed", map[string][]byte{"envelope_change": raw})
}

func FuzzVerify(f *testing.F) {
	k, _ := crypto.GenerateKeyFrom(golden.Reader("k"))
	raw, _ := Sign(k, DomainChange, []byte("payload"))
	f.Add(raw)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Verify(b, DomainChange, 1<<20)
	})
}

func TestGoldenDecodes(t *testing.T) {
	env, err := Verify(golden.Load(t, "signed")["envelope_change"], DomainChange, 1024)
	require.NoError(t, err)
	require.Equal(t, "payload", string(env.Payload))
}
