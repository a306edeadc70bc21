package handshake

import (
	"testing"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
)

type fixture struct {
	node, account, device crypto.PrivKey
	cert                  []byte
	nonce, challenge      []byte
}

func newFixture(t testing.TB) fixture {
	key := func(s string) crypto.PrivKey {
		k, err := crypto.GenerateKeyFrom(golden.Reader("handshake:" + s))
		require.NoError(t, err)
		return k
	}
	f := fixture{node: key("node"), account: key("account"), device: key("device")}
	var err error
	f.cert, err = crypto.NewDeviceCert(f.account, f.device.Public(), 1_700_000_000_000)
	require.NoError(t, err)
	f.nonce, err = NewNonce(golden.Reader("nonce"))
	require.NoError(t, err)
	f.challenge, err = NewNonce(golden.Reader("challenge"))
	require.NoError(t, err)
	return f
}

func TestHandshake(t *testing.T) {
	f := newFixture(t)
	hello, err := Hello(f.node, f.nonce, f.challenge)
	require.NoError(t, err)

	// First contact: the key is returned for pinning.
	got, err := VerifyHello(hello, f.nonce, nil)
	require.NoError(t, err)
	require.Equal(t, f.node.Public(), got)
	pinned := f.node.Public()
	_, err = VerifyHello(hello, f.nonce, &pinned)
	require.NoError(t, err)

	// Another pinned key: a clear mismatch, never silently accepted.
	other := f.device.Public()
	_, err = VerifyHello(hello, f.nonce, &other)
	require.ErrorIs(t, err, ErrNodeKeyMismatch)

	// A hello for another nonce (replayed) does not verify.
	nonce2 := append([]byte(nil), f.nonce...)
	nonce2[0] ^= 1
	_, err = VerifyHello(hello, nonce2, &pinned)
	require.ErrorIs(t, err, ErrInvalid)

	req := Auth(f.device, f.cert, hello.Challenge, got)
	cert, err := VerifyAuth(req, f.node.Public())
	require.NoError(t, err)
	require.Equal(t, f.account.Public(), cert.Account)
	require.Equal(t, f.device.Public(), cert.Device)

	// The same proof at another node does not verify (node key bound in).
	_, err = VerifyAuth(req, f.account.Public())
	require.ErrorIs(t, err, ErrInvalid)

	// A signature over another challenge.
	ch2 := append([]byte(nil), f.challenge...)
	ch2[5] ^= 1
	bad := Auth(f.device, f.cert, ch2, got)
	bad.Challenge = hello.Challenge
	_, err = VerifyAuth(bad, f.node.Public())
	require.ErrorIs(t, err, ErrInvalid)

	// A forged certificate: the device signs its own "account" claim.
	forged, err := crypto.NewDeviceCert(f.device, f.device.Public(), 1)
	require.NoError(t, err)
	copy(forged[len("hearth/device-cert/v1\x00"):], f.account.Public().Bytes()) // claim the real account
	_, err = VerifyAuth(Auth(f.device, forged, hello.Challenge, got), f.node.Public())
	require.ErrorIs(t, err, ErrInvalid)

	// A certificate of another device: the signing device does not match.
	imp, err := crypto.GenerateKeyFrom(golden.Reader("handshake:impostor"))
	require.NoError(t, err)
	_, err = VerifyAuth(Auth(imp, f.cert, hello.Challenge, got), f.node.Public())
	require.ErrorIs(t, err, ErrInvalid)
}

func TestGolden(t *testing.T) {
	f := newFixture(t)
	hello, err := Hello(f.node, f.nonce, f.challenge)
	require.NoError(t, err)
	helloRaw, err := hello.Marshal()
	require.NoError(t, err)
	auth := Auth(f.device, f.cert, f.challenge, f.node.Public())
	authRaw, err := auth.Marshal()
	require.NoError(t, err)
	golden.Check(t, "handshake", map[string][]byte{
		"hello_message":  HelloMessage(f.nonce, f.challenge),
		"auth_message":   AuthMessage(f.challenge, f.node.Public()),
		"hello_response": helloRaw,
		"auth_request":   authRaw,
		"client_nonce":   f.nonce,
	})
}

// TestGoldenDecodes checks that the stored vectors still verify with today's code.
func TestGoldenDecodes(t *testing.T) {
	f := newFixture(t)
	v := golden.Load(t, "handshake")
	var hello syncpb.HelloResponse
	require.NoError(t, hello.Unmarshal(v["hello_response"]))
	pinned := f.node.Public()
	_, err := VerifyHello(&hello, v["client_nonce"], &pinned)
	require.NoError(t, err)
	var auth syncpb.AuthRequest
	require.NoError(t, auth.Unmarshal(v["auth_request"]))
	cert, err := VerifyAuth(&auth, pinned)
	require.NoError(t, err)
	require.Equal(t, f.account.Public(), cert.Account)
}

// FuzzVerifyHello feeds arbitrary hello responses to the client's decoder.
func FuzzVerifyHello(f *testing.F) {
	fx := newFixture(f)
	hello, _ := Hello(fx.node, fx.nonce, fx.challenge)
	raw, _ := hello.Marshal()
	f.Add(raw, fx.nonce)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, b, nonce []byte) {
		var m syncpb.HelloResponse
		if m.Unmarshal(b) != nil {
			return
		}
		pinned := fx.node.Public()
		_, _ = VerifyHello(&m, nonce, nil)
		_, _ = VerifyHello(&m, nonce, &pinned)
	})
}

// FuzzVerifyAuth feeds arbitrary auth requests to the node's decoder.
func FuzzVerifyAuth(f *testing.F) {
	fx := newFixture(f)
	raw, _ := Auth(fx.device, fx.cert, fx.challenge, fx.node.Public()).Marshal()
	f.Add(raw)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m syncpb.AuthRequest
		if m.Unmarshal(b) != nil {
			return
		}
		_, _ = VerifyAuth(&m, fx.node.Public())
	})
}
