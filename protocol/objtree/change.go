package objtree

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/signed"
)

// Errors; every error of this package wraps one of them.
var (
	ErrInvalid    = errors.New("objtree: invalid change")
	ErrPermission = errors.New("objtree: author may not write")
	ErrAclBehind  = errors.New("objtree: change refers to an ACL record not known yet")
	ErrNoKey      = errors.New("objtree: read key not available")
	// ErrPartial: Add left some changes out (Update.Rejected) and added the others.
	ErrPartial = fmt.Errorf("objtree: some changes rejected: %w", ErrPermission)
)

// RootSeedSize is the size of a root change's seed.
const RootSeedSize = 16

// Change is a signed change that passed signature and shape checks (Verify).
type Change struct {
	ID         crypto.ChangeID
	Space      crypto.SpaceID
	Object     crypto.ObjectID // for a root change: its own id
	Parents    []crypto.ChangeID
	AclHead    crypto.RecordID
	KeyID      crypto.KeyID
	Author     crypto.PubKey
	Timestamp  int64
	Encrypted  []byte
	IsRoot     bool
	ObjectType string
	Raw        []byte // the Signed envelope, exact bytes (what to store and send)
}

// Verify decodes and checks a signed change: size, envelope signature, author = signer,
// id syntax, parents sorted and unique, root shape. The change id is recomputed from the
// payload bytes; an id that came with the data is never trusted.
func Verify(raw []byte) (Change, error) {
	return decodeChange(raw, signed.Verify)
}

// DecodeStored decodes a change this device verified when it arrived (or
// built and signed itself), read back from its own store: every check of
// Verify but the signature's, which costs most of a rebuild. The id is still
// recomputed from the bytes, so a damaged change cannot pass for another.
// Never use it for bytes from the network.
func DecodeStored(raw []byte) (Change, error) {
	return decodeChange(raw, signed.DecodeTrusted)
}

func decodeChange(raw []byte, open func([]byte, string, int) (signed.Envelope, error)) (Change, error) {
	env, err := open(raw, signed.DomainChange, protocol.MaxChangeSize)
	if err != nil {
		return Change{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var p syncpb.Change
	if err := p.Unmarshal(env.Payload); err != nil {
		return Change{}, fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	author, err := crypto.UnmarshalPubKey(p.Author)
	if err != nil || author != env.Signer {
		return Change{}, fmt.Errorf("%w: author does not match signer", ErrInvalid)
	}
	c := Change{
		ID: crypto.ChangeID(env.ID), Author: author, Timestamp: p.Timestamp, Encrypted: p.Encrypted,
		ObjectType: p.ObjectType, Raw: raw,
	}
	if c.Space, err = crypto.ParseSpaceID(p.SpaceId); err != nil {
		return Change{}, fmt.Errorf("%w: space: %v", ErrInvalid, err)
	}
	if c.AclHead, err = crypto.ParseRecordID(p.AclHead); err != nil {
		return Change{}, fmt.Errorf("%w: acl head: %v", ErrInvalid, err)
	}
	if c.KeyID, err = crypto.ParseKeyID(p.KeyId); err != nil {
		return Change{}, fmt.Errorf("%w: key id: %v", ErrInvalid, err)
	}
	if len(p.Parents) > protocol.MaxParents {
		return Change{}, fmt.Errorf("%w: %d parents, limit %d", ErrInvalid, len(p.Parents), protocol.MaxParents)
	}
	for i, s := range p.Parents {
		id, err := crypto.ParseChangeID(s)
		if err != nil {
			return Change{}, fmt.Errorf("%w: parent: %v", ErrInvalid, err)
		}
		if i > 0 && s <= p.Parents[i-1] {
			return Change{}, fmt.Errorf("%w: parents not sorted and unique", ErrInvalid)
		}
		c.Parents = append(c.Parents, id)
	}
	if p.ObjectId == "" {
		if len(p.Parents) != 0 || len(p.Seed) != RootSeedSize || len(p.Encrypted) != 0 {
			return Change{}, fmt.Errorf("%w: a root change has no parents and no payload, and a %d-byte seed", ErrInvalid, RootSeedSize)
		}
		c.IsRoot, c.Object = true, crypto.ObjectID(c.ID)
		return c, nil
	}
	if c.Object, err = crypto.ParseObjectID(p.ObjectId); err != nil {
		return Change{}, fmt.Errorf("%w: object: %v", ErrInvalid, err)
	}
	if len(p.Parents) == 0 || len(p.Seed) != 0 || p.ObjectType != "" {
		return Change{}, fmt.Errorf("%w: a non-root change has parents, no seed and no type", ErrInvalid)
	}
	return c, nil
}

// Builder makes signed changes on the client side (it holds the author's private key).
// Rand is the source of seeds and nonces; nil means crypto/rand (fixed only in golden tests).
type Builder struct {
	Space  crypto.SpaceID
	Author crypto.PrivKey
	Rand   io.Reader
}

func (b Builder) rand() io.Reader {
	if b.Rand == nil {
		return rand.Reader
	}
	return b.Rand
}

func (b Builder) sign(p *syncpb.Change) ([]byte, error) {
	p.SpaceId = string(b.Space)
	p.Author = b.Author.Public().Bytes()
	payload, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	raw, err := signed.Sign(b.Author, signed.DomainChange, payload)
	if err != nil {
		return nil, err
	}
	if len(raw) > protocol.MaxChangeSize {
		return nil, fmt.Errorf("%w: change is %d bytes, limit %d", ErrInvalid, len(raw), protocol.MaxChangeSize)
	}
	return raw, nil
}

// Root makes the root change of a new object, made under aclHead with readKey current.
// The object id is the id of the returned change.
func (b Builder) Root(aclHead crypto.RecordID, readKey crypto.KeyID, objectType string, ts int64) ([]byte, error) {
	seed := make([]byte, RootSeedSize)
	if _, err := io.ReadFull(b.rand(), seed); err != nil {
		return nil, err
	}
	return b.sign(&syncpb.Change{AclHead: string(aclHead), KeyId: string(readKey), Timestamp: ts, Seed: seed, ObjectType: objectType})
}

// Change makes a change of object on parents (usually the tree's heads), encrypting ops
// with the per-object key derived from readKey (the read key current at aclHead).
func (b Builder) Change(object crypto.ObjectID, parents []crypto.ChangeID, aclHead crypto.RecordID, readKey crypto.SymKey, ops []*syncpb.Op, ts int64) ([]byte, error) {
	if len(ops) > protocol.MaxChangeOps {
		return nil, fmt.Errorf("%w: %d ops, limit %d", ErrInvalid, len(ops), protocol.MaxChangeOps)
	}
	ps := make([]string, 0, len(parents))
	for _, p := range parents {
		ps = append(ps, string(p))
	}
	slices.Sort(ps)
	ps = slices.Compact(ps)
	plain, err := (&syncpb.ChangeOps{Ops: ops}).Marshal()
	if err != nil {
		return nil, err
	}
	aad := crypto.AAD{Space: b.Space, Object: object, Key: readKey.ID()}
	enc, err := readKey.ObjectKey(object).EncryptWithRand(b.rand(), aad, plain)
	if err != nil {
		return nil, err
	}
	return b.sign(&syncpb.Change{ObjectId: string(object), Parents: ps, AclHead: string(aclHead), KeyId: string(readKey.ID()), Timestamp: ts, Encrypted: enc})
}

// Merge makes the changes a new change of object needs before it can build on heads when
// they are more than MaxParents (many concurrent siblings: issue 16.5): merge changes with
// no ops, each on at most MaxParents of the heads (in sorted order), then merges of those
// merges, until at most MaxParents remain. It returns the merges, parents first, and the
// parents the new change takes (heads itself, sorted, when they fit). Any number of heads
// is merged this way: 65,536 in two levels.
func (b Builder) Merge(object crypto.ObjectID, heads []crypto.ChangeID, aclHead crypto.RecordID, readKey crypto.SymKey, ts int64) (merges []Change, parents []crypto.ChangeID, err error) {
	parents = slices.Clone(heads)
	slices.Sort(parents)
	parents = slices.Compact(parents)
	for len(parents) > protocol.MaxParents {
		var next []crypto.ChangeID
		for len(parents) > 0 {
			n := min(protocol.MaxParents, len(parents))
			raw, err := b.Change(object, parents[:n], aclHead, readKey, nil, ts)
			if err != nil {
				return nil, nil, err
			}
			c, err := DecodeStored(raw) // just signed here
			if err != nil {
				return nil, nil, err
			}
			merges = append(merges, c)
			next = append(next, c.ID)
			parents = parents[n:]
		}
		slices.Sort(next)
		parents = next
	}
	return merges, parents, nil
}

// DecryptOps decrypts a change's ops with the read keys the caller holds.
func DecryptOps(c Change, keys map[crypto.KeyID]crypto.SymKey) ([]*syncpb.Op, error) {
	if c.IsRoot {
		return nil, nil
	}
	k, ok := keys[c.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: key %s for change %s", ErrNoKey, c.KeyID, c.ID)
	}
	plain, err := k.ObjectKey(c.Object).Decrypt(crypto.AAD{Space: c.Space, Object: c.Object, Key: c.KeyID}, c.Encrypted)
	if err != nil {
		return nil, fmt.Errorf("%w: change %s: %v", ErrInvalid, c.ID, err)
	}
	return DecodeOps(plain)
}

// DecodeOps decodes a plaintext ChangeOps and checks its shape: it decodes, holds at most
// MaxChangeOps ops, and every op is one of the four kinds. What an op may set (keys,
// values, nesting up to MaxValueDepth) is the applier's rule, checked per op, so that one
// bad op does not take the rest of its change with it.
func DecodeOps(plain []byte) ([]*syncpb.Op, error) {
	var ops syncpb.ChangeOps
	if err := ops.Unmarshal(plain); err != nil {
		return nil, fmt.Errorf("%w: ops: %v", ErrInvalid, err)
	}
	if len(ops.Ops) > protocol.MaxChangeOps {
		return nil, fmt.Errorf("%w: %d ops, limit %d", ErrInvalid, len(ops.Ops), protocol.MaxChangeOps)
	}
	for _, op := range ops.Ops {
		switch op.Op.(type) {
		case *syncpb.Op_Set, *syncpb.Op_Unset, *syncpb.Op_ListAdd, *syncpb.Op_ListRemove:
		default:
			return nil, fmt.Errorf("%w: empty or unknown op", ErrInvalid)
		}
	}
	return ops.Ops, nil
}
