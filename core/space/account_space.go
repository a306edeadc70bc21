package space

import (
	"context"
	"encoding/hex"
	"io"

	"github.com/zeebo/blake3"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/protocol/space"
	"github.com/hearth-sync/hearth/spaceindex"
)

// The account space (DESIGN §4) holds one reference object per space of the
// account: how a new device learns its spaces and how "I left" reaches the
// account's other devices. Every device must build it byte for byte the
// same, or the node would see competing roots: its header is derived from
// the account key, and the randomness its ACL root and reference roots need
// (sealing nonces, object seeds) comes from a blake3 stream keyed by a
// secret derived from the account key. Ed25519 signatures are deterministic,
// and timestamps are fixed at 0.

// RefType is the object type of a space reference in the account space.
const RefType = "hearth.spaceRef"

// Keys of a reference object.
const (
	refSpace  = "space"
	refName   = "name"
	refStatus = "accountStatus"
	refAt     = "statusAt"
	// refInviteKey carries the key of the no-approval invite the account
	// joined through: until a rotation, the read key is sealed to it, and
	// the account's other devices need it too. The account space is
	// encrypted with a key only the account's devices derive.
	refInviteKey = "inviteKey"
)

// detRand is a deterministic stream for the account space's randomness.
func detRand(account crypto.PrivKey, label string, parts ...string) io.Reader {
	h := blake3.NewDeriveKey(label)
	_, _ = h.Write(account.DeriveSecret(label, 32))
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return h.Digest()
}

// AccountSpaceID is the id of the account's account space.
func (s *Service) AccountSpaceID() (crypto.SpaceID, error) {
	s.accountSpace.once.Do(func() { // derived from the key: compute once
		h, err := space.AccountSpace(s.cfg.Account)
		s.accountSpace.id, s.accountSpace.err = h.ID, err
	})
	return s.accountSpace.id, s.accountSpace.err
}

// EnsureAccountSpace creates the account space on this device if it is not
// there yet (the same bytes on every device) and loads it.
func (s *Service) EnsureAccountSpace(ctx context.Context) (*Space, error) {
	const op = "space.account"
	h, err := space.AccountSpace(s.cfg.Account)
	if err != nil {
		return nil, errkind.E(op, errkind.Other, err)
	}
	if _, known, err := getInfo(s.cfg.DB, h.ID); err != nil {
		return nil, errkind.E(op, errkind.Corrupt, err)
	} else if !known {
		readKey := space.AccountSpaceReadKey(s.cfg.Account)
		rootRaw, err := acl.Builder{Author: s.cfg.Account, Rand: detRand(s.cfg.Account, "hearth/account-space-acl/v1")}.Root(h.ID, readKey, 0)
		if err != nil {
			return nil, errkind.E(op, errkind.Other, err)
		}
		rec, err := acl.VerifyAuthor(rootRaw)
		if err != nil {
			return nil, errkind.E(op, errkind.Other, err)
		}
		accepted, err := acl.Countersign(s.cfg.Device, rec, 1)
		if err != nil {
			return nil, errkind.E(op, errkind.Other, err)
		}
		info := Info{ID: h.ID, Name: "account", Incarnation: newIncarnation(), AccountStatus: AccountActive, LocalStatus: LocalOK, Account: true}
		if err := s.install(info, h.Raw, [][]byte{accepted.Accepted}, true); err != nil {
			return nil, errkind.E(op, errkind.Other, err)
		}
	}
	return s.Get(ctx, h.ID)
}

// Ref is the account space's record of one space of the account.
type Ref struct {
	Space     crypto.SpaceID
	Name      string
	Status    AccountStatus
	StatusAt  int64          // when Status was set (unix ms)
	InviteKey crypto.PrivKey // zero unless joined through a no-approval invite
}

// PutRef writes a space's reference into the account space.
func (s *Service) PutRef(ctx context.Context, ref Ref) error {
	as, err := s.EnsureAccountSpace(ctx)
	if err != nil {
		return err
	}
	details := Details{
		refSpace:  objtree.String(string(ref.Space)),
		refName:   objtree.String(ref.Name),
		refStatus: objtree.Number(float64(ref.Status)),
		refAt:     objtree.Number(float64(ref.StatusAt)),
	}
	if !ref.InviteKey.IsZero() {
		details[refInviteKey] = objtree.String(hex.EncodeToString(ref.InviteKey.Marshal()))
	}
	return as.upsertDeterministic(ctx, RefType, detRand(s.cfg.Account, "hearth/space-ref/v1", string(ref.Space)), details)
}

// Refs lists the references in the account space.
func (s *Service) Refs(ctx context.Context) ([]Ref, error) {
	as, err := s.EnsureAccountSpace(ctx)
	if err != nil {
		return nil, err
	}
	res, err := as.Query(ctx, spaceindex.Query{Filter: spaceindex.Eq(spaceindex.KeyType, spaceindex.String(RefType))})
	if err != nil {
		return nil, err
	}
	out := make([]Ref, 0, len(res.Records))
	for _, r := range res.Records {
		id := crypto.SpaceID(r.Details[refSpace].AsString())
		if _, err := crypto.ParseSpaceID(string(id)); err != nil {
			continue // not written by Hearth: ignore rather than trust
		}
		st := AccountStatus(r.Details[refStatus].AsNumber())
		if st > AccountRemoved {
			continue
		}
		ref := Ref{Space: id, Name: r.Details[refName].AsString(), Status: st, StatusAt: int64(r.Details[refAt].AsNumber())}
		if v, ok := r.Details[refInviteKey]; ok {
			if seed, err := hex.DecodeString(v.AsString()); err == nil {
				ref.InviteKey, _ = crypto.UnmarshalPrivKey(seed)
			}
		}
		out = append(out, ref)
	}
	return out, nil
}

// RefInviteKey returns the key of the no-approval invite the account space
// records for a space (zero when there is none).
func (s *Service) RefInviteKey(ctx context.Context, id crypto.SpaceID) (crypto.PrivKey, error) {
	refs, err := s.Refs(ctx)
	if err != nil {
		return crypto.PrivKey{}, err
	}
	for _, r := range refs {
		if r.Space == id {
			return r.InviteKey, nil
		}
	}
	return crypto.PrivKey{}, nil
}

// upsertDeterministic creates the object whose root comes from seed (the same
// object id on every device) or, if it exists, sets the details that differ.
func (sp *Space) upsertDeterministic(ctx context.Context, typ string, seed io.Reader, details Details) error {
	ops, err := setOps(details)
	if err != nil {
		return err
	}
	return sp.do(ctx, func() error {
		b := objtree.Builder{Space: sp.id, Author: sp.author, Rand: seed}
		rootRaw, err := b.Root(sp.acl.Head(), sp.acl.ReadKeyID(), typ, 0)
		if err != nil {
			return err
		}
		root, err := objtree.Verify(rootRaw)
		if err != nil {
			return err
		}
		id := crypto.ObjectID(root.ID)
		obj, err := sp.object(id)
		if err == nil {
			var changed []*syncpb.Op
			for _, op := range ops {
				cur, ok := obj.state.Get(op.GetSet().Key)
				if b1, b2 := marshalValue(cur), marshalValue(op.GetSet().Value); !ok || string(b1) != string(b2) {
					changed = append(changed, op)
				}
			}
			if len(changed) == 0 {
				return nil
			}
			cs, err := sp.newChange(obj, changed)
			if err != nil {
				return err
			}
			return sp.persist(obj, cs)
		}
		if !errkind.Is(err, errkind.NotFound) {
			return err
		}
		tree, err := objtree.New(root, sp.acl)
		if err != nil {
			return err
		}
		obj = &object{tree: tree, state: objtree.NewState(), typ: typ}
		cs, err := sp.newChange(obj, ops)
		if err != nil {
			return err
		}
		return sp.persist(obj, append([]objtree.Change{root}, cs...))
	})
}

func marshalValue(v *syncpb.Value) []byte {
	if v == nil {
		return nil
	}
	b, _ := v.Marshal()
	return b
}
