// Package handshake owns the pure signing and verifying steps of the node handshake
// (pb/syncpb/node.proto, Hello then Auth):
//
//	Hello: the client sends 32 random bytes (client nonce); the node answers its key, a
//	32-byte challenge and its signature over "hearth/node-hello/v1\x00" | nonce | challenge.
//	The client checks that signature against its pinned node key (VerifyHello).
//	Auth: the device signs "hearth/node-auth/v1\x00" | challenge | node key with its device
//	key and sends its account-signed device certificate; the node checks both (VerifyAuth).
//
// Binding the node key into the device's signature means a signature made for one node is
// useless at another; binding the client nonce into the node's signature means a recorded
// Hello cannot be replayed to a client. Keeping challenges single-use and short-lived is the
// node's job (it holds the state); this package only signs and checks bytes.
//
// It must never do I/O, read the clock, start goroutines or keep state: every input is
// bytes or keys, every output is bytes, a verified value or an error wrapping ErrInvalid
// (decoders never panic).
package handshake
