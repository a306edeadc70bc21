package handshake

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Domain strings: the first bytes of every signed handshake message.
const (
	HelloDomain = "hearth/node-hello/v1\x00"
	AuthDomain  = "hearth/node-auth/v1\x00"
)

// NonceSize is the size of the client nonce and of the node's challenge.
const NonceSize = 32

// ProtocolVersion is the node protocol version this code speaks.
const ProtocolVersion = 1

// ErrInvalid is wrapped by every verification error of this package.
var ErrInvalid = errors.New("handshake: invalid")

// ErrNodeKeyMismatch means the node showed a key other than the pinned one. It wraps
// ErrInvalid. A client must never re-pin silently on this error.
var ErrNodeKeyMismatch = fmt.Errorf("%w: node key differs from the pinned key", ErrInvalid)

// NewNonce returns NonceSize random bytes from r (crypto/rand when r is nil).
func NewNonce(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, NonceSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("handshake: nonce: %w", err)
	}
	return b, nil
}

// HelloMessage is what the node signs: HelloDomain | clientNonce | challenge.
func HelloMessage(clientNonce, challenge []byte) []byte {
	m := make([]byte, 0, len(HelloDomain)+len(clientNonce)+len(challenge))
	m = append(m, HelloDomain...)
	m = append(m, clientNonce...)
	return append(m, challenge...)
}

// AuthMessage is what the device signs: AuthDomain | challenge | node key.
func AuthMessage(challenge []byte, node crypto.PubKey) []byte {
	m := make([]byte, 0, len(AuthDomain)+len(challenge)+crypto.PubKeySize)
	m = append(m, AuthDomain...)
	m = append(m, challenge...)
	return append(m, node[:]...)
}

// Hello builds the node's answer to clientNonce with a fresh challenge.
func Hello(node crypto.PrivKey, clientNonce, challenge []byte) (*syncpb.HelloResponse, error) {
	if len(clientNonce) != NonceSize {
		return nil, fmt.Errorf("%w: client nonce is %d bytes, want %d", ErrInvalid, len(clientNonce), NonceSize)
	}
	if len(challenge) != NonceSize {
		return nil, fmt.Errorf("%w: challenge is %d bytes, want %d", ErrInvalid, len(challenge), NonceSize)
	}
	return &syncpb.HelloResponse{
		NodeKey:         node.Public().Bytes(),
		Challenge:       append([]byte(nil), challenge...),
		NodeSignature:   node.Sign(HelloMessage(clientNonce, challenge)),
		ProtocolVersion: ProtocolVersion,
	}, nil
}

// VerifyHello is the client's check of the node's answer to its clientNonce. With a
// pinned key, a node showing another key fails with ErrNodeKeyMismatch; with pinned nil
// (first contact) the shown key is returned for the caller to pin and report.
func VerifyHello(resp *syncpb.HelloResponse, clientNonce []byte, pinned *crypto.PubKey) (crypto.PubKey, error) {
	if resp == nil {
		return crypto.PubKey{}, fmt.Errorf("%w: no hello response", ErrInvalid)
	}
	key, err := crypto.UnmarshalPubKey(resp.NodeKey)
	if err != nil {
		return crypto.PubKey{}, fmt.Errorf("%w: node key: %v", ErrInvalid, err)
	}
	if pinned != nil && *pinned != key {
		return crypto.PubKey{}, fmt.Errorf("%w: node %s answered, pinned %s", ErrNodeKeyMismatch, key, *pinned)
	}
	if resp.ProtocolVersion != ProtocolVersion {
		return crypto.PubKey{}, fmt.Errorf("%w: node speaks protocol %d, this client %d", ErrInvalid, resp.ProtocolVersion, ProtocolVersion)
	}
	if len(clientNonce) != NonceSize || len(resp.Challenge) != NonceSize {
		return crypto.PubKey{}, fmt.Errorf("%w: nonce or challenge is not %d bytes", ErrInvalid, NonceSize)
	}
	if !key.Verify(HelloMessage(clientNonce, resp.Challenge), resp.NodeSignature) {
		return crypto.PubKey{}, fmt.Errorf("%w: node signature over the hello does not verify", ErrInvalid)
	}
	return key, nil
}

// Auth builds the device's proof for the challenge of the node whose key it verified.
func Auth(device crypto.PrivKey, deviceCert []byte, challenge []byte, node crypto.PubKey) *syncpb.AuthRequest {
	return &syncpb.AuthRequest{
		Challenge:  append([]byte(nil), challenge...),
		DeviceCert: append([]byte(nil), deviceCert...),
		Signature:  device.Sign(AuthMessage(challenge, node)),
	}
}

// VerifyAuth is the node's check of a device's proof: the certificate is signed by its
// account, and the certificate's device key signed the challenge bound to this node's key.
// Whether the challenge was issued, is fresh and unused is the caller's check.
func VerifyAuth(req *syncpb.AuthRequest, node crypto.PubKey) (crypto.DeviceCert, error) {
	if req == nil {
		return crypto.DeviceCert{}, fmt.Errorf("%w: no auth request", ErrInvalid)
	}
	if len(req.Challenge) != NonceSize {
		return crypto.DeviceCert{}, fmt.Errorf("%w: challenge is %d bytes, want %d", ErrInvalid, len(req.Challenge), NonceSize)
	}
	cert, err := crypto.VerifyDeviceCert(req.DeviceCert)
	if err != nil {
		return crypto.DeviceCert{}, fmt.Errorf("%w: device certificate: %v", ErrInvalid, err)
	}
	if !cert.Device.Verify(AuthMessage(req.Challenge, node), req.Signature) {
		return crypto.DeviceCert{}, fmt.Errorf("%w: device signature over the challenge does not verify", ErrInvalid)
	}
	return cert, nil
}
