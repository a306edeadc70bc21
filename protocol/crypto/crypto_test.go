package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func testKey(t testing.TB, seed string) PrivKey {
	k, err := GenerateKeyFrom(golden.Reader(seed))
	require.NoError(t, err)
	return k
}

func TestMnemonic(t *testing.T) {
	m, err := NewMnemonic()
	require.NoError(t, err)
	require.Len(t, strings.Fields(m), 12)
	k1, err := AccountKeyFromMnemonic(m)
	require.NoError(t, err)
	k2, err := AccountKeyFromMnemonic("  " + strings.ToUpper(m) + " ")
	require.NoError(t, err)
	require.Equal(t, k1.Public(), k2.Public())

	_, err = AccountKeyFromMnemonic(strings.Replace(testMnemonic, "about", "zebra", 1))
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "checksum")
	_, err = AccountKeyFromMnemonic(strings.Replace(testMnemonic, "about", "aboutx", 1))
	require.ErrorContains(t, err, `word 12 ("aboutx")`)
	_, err = AccountKeyFromMnemonic("abandon about")
	require.ErrorIs(t, err, ErrInvalid)
}

func TestKeysAndRedaction(t *testing.T) {
	k := testKey(t, "a")
	sig := k.Sign([]byte("msg"))
	require.True(t, k.Public().Verify([]byte("msg"), sig))
	require.False(t, k.Public().Verify([]byte("msh"), sig))
	require.False(t, k.Public().Verify([]byte("msg"), sig[:10]))
	require.False(t, PubKey{}.Verify([]byte("msg"), sig))

	k2, err := UnmarshalPrivKey(k.Marshal())
	require.NoError(t, err)
	require.Equal(t, k.Public(), k2.Public())
	_, err = UnmarshalPrivKey(make([]byte, 31))
	require.ErrorIs(t, err, ErrInvalid)
	_, err = UnmarshalPubKey(make([]byte, 33))
	require.ErrorIs(t, err, ErrInvalid)

	raw := fmt.Sprintf("%x", k.Marshal())
	type wrap struct{ K PrivKey }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, wrap{k}) + fmt.Sprintf(verb, &wrap{k})
		require.NotContains(t, strings.ToLower(out), raw, verb)
		require.Contains(t, out, "redacted", verb)
	}
	sk, err := NewSymKeyFrom(golden.Reader("s"))
	require.NoError(t, err)
	out := fmt.Sprintf("%v %#v %x %s", sk, sk, sk, sk)
	require.NotContains(t, out, fmt.Sprintf("%x", sk.Marshal()))
}

func TestIDs(t *testing.T) {
	k := testKey(t, "a")
	id := k.Public().Identity()
	require.Len(t, string(id), IDLen)
	require.Equal(t, strings.ToLower(string(id)), string(id))
	p, err := ParseIdentity(string(id))
	require.NoError(t, err)
	require.Equal(t, k.Public(), p)
	for _, bad := range []string{"", strings.ToUpper(string(id)), string(id)[:51], string(id) + "a", string(id)[:51] + "1", string(id)[:51] + "9"} {
		_, err := ParseIdentity(bad)
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
	c := Sum([]byte("hello"))
	_, err = ParseContentID(string(c))
	require.NoError(t, err)
	require.Len(t, c.Bytes(), HashSize)
	_, err = ParseSpaceID("abc")
	require.Error(t, err)
	sk, _ := NewSymKeyFrom(golden.Reader("s"))
	_, err = ParseKeyID(string(sk.ID()))
	require.NoError(t, err)
}

func TestNonCanonicalBase32Rejected(t *testing.T) {
	id := string(Sum(nil))
	// The last character carries 1 data bit and 4 padding bits; flip a padding bit.
	alphabet := "abcdefghijklmnopqrstuvwxyz234567"
	i := strings.IndexByte(alphabet, id[len(id)-1])
	bad := id[:len(id)-1] + string(alphabet[i^1])
	_, err := ParseContentID(bad)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestDeviceCert(t *testing.T) {
	acc, dev := testKey(t, "acc"), testKey(t, "dev")
	raw, err := NewDeviceCert(acc, dev.Public(), 1700000000000)
	require.NoError(t, err)
	c, err := VerifyDeviceCert(raw)
	require.NoError(t, err)
	require.Equal(t, DeviceCert{Account: acc.Public(), Device: dev.Public(), IssuedAt: 1700000000000}, c)
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 1
		_, err := VerifyDeviceCert(bad)
		require.ErrorIs(t, err, ErrInvalid, i)
	}
	_, err = VerifyDeviceCert(raw[1:])
	require.ErrorIs(t, err, ErrInvalid)
}

func TestSeal(t *testing.T) {
	a, b := testKey(t, "a"), testKey(t, "b")
	box, err := Seal(a.Public(), []byte("secret"))
	require.NoError(t, err)
	msg, err := Open(a, box)
	require.NoError(t, err)
	require.Equal(t, "secret", string(msg))
	_, err = Open(b, box)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = Open(a, box[:10])
	require.ErrorIs(t, err, ErrInvalid)
}

func TestSymmetric(t *testing.T) {
	rk, err := NewSymKey()
	require.NoError(t, err)
	ok := rk.ObjectKey("obj1")
	require.NotEqual(t, rk.ID(), ok.ID())
	require.Equal(t, ok.ID(), rk.ObjectKey("obj1").ID())
	aad := AAD{Space: "sp", Object: "obj1", Key: rk.ID()}
	ct, err := ok.Encrypt(aad, []byte("payload"))
	require.NoError(t, err)
	pt, err := ok.Decrypt(aad, ct)
	require.NoError(t, err)
	require.Equal(t, "payload", string(pt))
	for _, bad := range []AAD{{"sp2", "obj1", rk.ID()}, {"sp", "obj2", rk.ID()}, {"sp", "obj1", "x"}} {
		_, err := ok.Decrypt(bad, ct)
		require.True(t, errors.Is(err, ErrInvalid))
	}
	_, err = rk.ObjectKey("obj2").Decrypt(aad, ct)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = ok.Decrypt(aad, ct[:5])
	require.ErrorIs(t, err, ErrInvalid)
	_, err = SymKey{}.Encrypt(aad, nil)
	require.ErrorIs(t, err, ErrInvalid)
}

// TestGolden pins every format of this package: derivations, cert, seal, encryption.
func TestGolden(t *testing.T) {
	acc, err := AccountKeyFromMnemonic(testMnemonic)
	require.NoError(t, err)
	dev := testKey(t, "device")
	cert, err := NewDeviceCert(acc, dev.Public(), 1700000000000)
	require.NoError(t, err)
	sealed, err := SealWithRand(golden.Reader("seal-eph"), dev.Public(), []byte("read key"))
	require.NoError(t, err)
	msg, err := Open(dev, sealed)
	require.NoError(t, err)
	require.Equal(t, "read key", string(msg))
	rk, err := NewSymKeyFrom(golden.Reader("read-key"))
	require.NoError(t, err)
	aad := AAD{Space: Sum([]byte("space")).space(), Object: "obj", Key: rk.ID()}
	ct, err := rk.ObjectKey("obj").EncryptWithRand(golden.Reader("nonce"), aad, []byte("hello hearth"))
	require.NoError(t, err)
	x, err := acc.Public().X25519Public()
	require.NoError(t, err)
	xp := dev.x25519Private()
	golden.Check(t, "crypto", map[string][]byte{
		"account_key_seed":    acc.Marshal(),
		"account_identity":    []byte(acc.Public().Identity()),
		"device_cert":         cert,
		"sealed_box":          sealed,
		"x25519_public":       x[:],
		"x25519_private":      xp[:],
		"read_key_id":         []byte(rk.ID()),
		"object_key_id":       []byte(rk.ObjectKey("obj").ID()),
		"aad":                 aad.Bytes(),
		"ciphertext":          ct,
		"content_id_hello":    []byte(Sum([]byte("hello"))),
		"derive_secret_label": acc.DeriveSecret("label", 16),
	})
}

func (c ContentID) space() SpaceID { return SpaceID(c) }

func FuzzParseIdentity(f *testing.F) {
	f.Add(string(Sum(nil)))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIdentity(s)
		if err == nil && string(p.Identity()) != s {
			t.Fatalf("round trip %q -> %q", s, p.Identity())
		}
		_, _ = ParseKeyID(s)
	})
}

func FuzzVerifyDeviceCert(f *testing.F) {
	acc, _ := GenerateKeyFrom(golden.Reader("acc"))
	raw, _ := NewDeviceCert(acc, acc.Public(), 1)
	f.Add(raw)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := VerifyDeviceCert(b); err == nil && c.Account.IsZero() {
			t.Fatal("zero account verified")
		}
	})
}

func FuzzOpenDecrypt(f *testing.F) {
	k, _ := GenerateKeyFrom(golden.Reader("k"))
	box, _ := SealWithRand(golden.Reader("e"), k.Public(), []byte("x"))
	f.Add(box)
	f.Add([]byte{1, 2, 3})
	sk, _ := NewSymKeyFrom(golden.Reader("s"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Open(k, b)
		_, _ = sk.Decrypt(AAD{}, b)
		_, _ = UnmarshalPubKey(b)
		if len(b) == PubKeySize {
			var p PubKey
			copy(p[:], b)
			_, _ = p.X25519Public()
			_ = p.Verify(b, b)
		}
	})
}

func BenchmarkSignVerify(b *testing.B) {
	k, _ := GenerateKeyFrom(golden.Reader("k"))
	msg := make([]byte, 256)
	for b.Loop() {
		if !k.Public().Verify(msg, k.Sign(msg)) {
			b.Fatal("verify")
		}
	}
}

// TestGoldenDecodes checks that the checked-in vectors still verify and decrypt.
func TestGoldenDecodes(t *testing.T) {
	g := golden.Load(t, "crypto")
	c, err := VerifyDeviceCert(g["device_cert"])
	require.NoError(t, err)
	require.Equal(t, int64(1700000000000), c.IssuedAt)
	msg, err := Open(testKey(t, "device"), g["sealed_box"])
	require.NoError(t, err)
	require.Equal(t, "read key", string(msg))
	rk, _ := NewSymKeyFrom(golden.Reader("read-key"))
	aad := AAD{Space: Sum([]byte("space")).space(), Object: "obj", Key: rk.ID()}
	require.Equal(t, g["aad"], aad.Bytes())
	pt, err := rk.ObjectKey("obj").Decrypt(aad, g["ciphertext"])
	require.NoError(t, err)
	require.Equal(t, "hello hearth", string(pt))
}

// TestDecodeAgreesWithTheRoundTrip: decode (stack buffers) accepts exactly
// the strings the plain decode-and-encode-back check accepts, with the same
// bytes: random strings over the alphabet and beyond, of every id's length,
// with any last character (whose spare bits make most of them
// non-canonical).
func TestDecodeAgreesWithTheRoundTrip(t *testing.T) {
	reference := func(s string, n int) ([]byte, bool) {
		b, err := enc.DecodeString(s)
		return b, err == nil && len(b) == n && enc.EncodeToString(b) == s
	}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.SampledFrom([]int{KeyIDSize, HashSize, PubKeySize, maxDecoded, maxDecoded + 1}).Draw(t, "n")
		alphabet := rapid.SampledFrom([]rune("abcdefghijklmnopqrstuvwxyz234567ABZ018=_ é"))
		s := string(rapid.SliceOfN(alphabet, enc.EncodedLen(n), enc.EncodedLen(n)).Draw(t, "s"))
		if rapid.Bool().Draw(t, "valid") { // mostly canonical ones too
			s = enc.EncodeToString(rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "bytes"))
		}
		want, ok := reference(s, n)
		got, err := decode(s, n)
		if !ok {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode(%q, %d) = %x, %v; the round trip refuses it", s, n, got, err)
			}
			return
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("decode(%q, %d) = %x, %v; want %x", s, n, got, err, want)
		}
	})
}
