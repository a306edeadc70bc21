package acl

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Member is a current member.
type Member struct {
	Key       crypto.PubKey
	Role      Role
	JoinedVia crypto.RecordID // invite the member joined through ("" for the owner or unknown)
}

// Invite is an open invite.
type Invite struct {
	ID               crypto.RecordID
	Key              crypto.PubKey
	Role             Role
	RequiresApproval bool
	CreatedSeq       uint64
	Creator          crypto.PubKey // the admin who made it
	Created          int64         // the invite record's timestamp (unix ms, as its author set it)
}

// Request is a pending join request (invite with approval).
type Request struct {
	ID     crypto.RecordID
	Joiner crypto.PubKey
	Invite crypto.RecordID
}

// epoch is one read key of the chain and the grants that carry it. Epochs are never
// mutated after they are replaced by a copy (copy-on-write in Apply).
type epoch struct {
	id           crypto.KeyID
	seq          uint64 // record that introduced it
	encPrev      []byte // previous key encrypted with this one (nil for the first)
	memberGrants map[crypto.PubKey][]byte
	inviteGrants map[crypto.RecordID][]byte
}

func (e *epoch) clone() *epoch {
	c := *e
	c.memberGrants = maps.Clone(e.memberGrants)
	c.inviteGrants = maps.Clone(e.inviteGrants)
	return &c
}

type roleAt struct {
	seq  uint64
	role Role
}

type keyAt struct {
	seq uint64
	id  crypto.KeyID
}

// history is the append-only part of the chain (record ids, role and key history), shared
// between a State and the states derived from it. A state sees the first seq entries only.
// Appending in place is safe when nobody appended past the state's seq; otherwise Apply
// forks a truncated copy, so States stay values. mu guards all fields: States may be used
// from several goroutines.
type history struct {
	mu    sync.Mutex
	ids   []crypto.RecordID // by seq-1
	idx   map[crypto.RecordID]uint64
	roles map[crypto.PubKey][]roleAt
	keys  []keyAt
}

// State is the folded ACL of one space. It is an immutable value: Apply returns a new
// State and leaves the receiver unchanged. The zero State is not usable; start with New.
type State struct {
	space    crypto.SpaceID
	creator  crypto.PubKey
	head     crypto.RecordID
	seq      uint64
	members  map[crypto.PubKey]Member
	invites  map[crypto.RecordID]Invite
	requests map[crypto.RecordID]Request
	removed  map[crypto.PubKey]uint64 // identity -> seq of its latest removal
	epochs   []*epoch
	hist     *history
	// closedInviteKeys remembers the keys of closed no-approval invites, so a member who
	// joined through one can still find the grant it joined with (ReadKeys).
	closedInviteKeys map[crypto.RecordID]crypto.PubKey
}

// New returns the empty state of a space created by creator (from the verified space
// header). Only creator may author the root record.
func New(space crypto.SpaceID, creator crypto.PubKey) State {
	return State{
		space: space, creator: creator,
		hist: &history{idx: map[crypto.RecordID]uint64{}, roles: map[crypto.PubKey][]roleAt{}},
	}
}

// Space returns the space id.
func (s State) Space() crypto.SpaceID { return s.space }

// Head returns the id of the last applied record ("" before the root).
func (s State) Head() crypto.RecordID { return s.head }

// Seq returns the acceptor sequence number of the head (0 before the root).
func (s State) Seq() uint64 { return s.seq }

// Role returns who's current role.
func (s State) Role(who crypto.PubKey) Role { return s.members[who].Role }

// Owner returns the owner (zero before the root).
func (s State) Owner() crypto.PubKey {
	if s.seq == 0 {
		return crypto.PubKey{}
	}
	return s.creator
}

// ReadKeyID returns the id of the current read key ("" before the root).
func (s State) ReadKeyID() crypto.KeyID {
	if len(s.epochs) == 0 {
		return ""
	}
	return s.epochs[len(s.epochs)-1].id
}

// Members returns the current members sorted by key.
func (s State) Members() []Member {
	out := slices.Collect(maps.Values(s.members))
	slices.SortFunc(out, func(a, b Member) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	return out
}

// Invites returns the open invites sorted by id.
func (s State) Invites() []Invite {
	out := slices.Collect(maps.Values(s.invites))
	slices.SortFunc(out, func(a, b Invite) int { return cmpString(string(a.ID), string(b.ID)) })
	return out
}

// Requests returns the pending join requests sorted by id.
func (s State) Requests() []Request {
	out := slices.Collect(maps.Values(s.requests))
	slices.SortFunc(out, func(a, b Request) int { return cmpString(string(a.ID), string(b.ID)) })
	return out
}

// Removed reports whether who was removed (kicked) at some point of the chain.
func (s State) Removed(who crypto.PubKey) bool { _, ok := s.removed[who]; return ok }

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SeqOf returns the sequence number of a record applied in this state.
func (s State) SeqOf(id crypto.RecordID) (uint64, bool) {
	s.hist.mu.Lock()
	defer s.hist.mu.Unlock()
	q, ok := s.hist.idx[id]
	if !ok || q > s.seq {
		return 0, false
	}
	return q, true
}

// RoleAt returns who's role right after record at was applied. It fails with ErrInvalid
// when at is not in this state's chain (the caller has not got that record yet).
func (s State) RoleAt(at crypto.RecordID, who crypto.PubKey) (Role, error) {
	q, ok := s.SeqOf(at)
	if !ok {
		return RoleNone, fmt.Errorf("%w: unknown ACL record %s", ErrInvalid, at)
	}
	s.hist.mu.Lock()
	defer s.hist.mu.Unlock()
	r := RoleNone
	for _, h := range s.hist.roles[who] {
		if h.seq > q {
			break
		}
		r = h.role
	}
	return r, nil
}

// ReadKeyIDAt returns the id of the read key current right after record at.
func (s State) ReadKeyIDAt(at crypto.RecordID) (crypto.KeyID, error) {
	q, ok := s.SeqOf(at)
	if !ok {
		return "", fmt.Errorf("%w: unknown ACL record %s", ErrInvalid, at)
	}
	s.hist.mu.Lock()
	defer s.hist.mu.Unlock()
	var id crypto.KeyID
	for _, k := range s.hist.keys {
		if k.seq > q {
			break
		}
		id = k.id
	}
	return id, nil
}

// Apply folds one verified record into the state. It is pure: no I/O, no clock, no
// private keys; the receiver is unchanged. Errors wrap ErrConflict (prev is not the head),
// ErrReplay, ErrSequence, ErrPermission or ErrInvalid.
func (s State) Apply(rec VerifiedRecord) (State, error) {
	if s.hist == nil {
		return s, fmt.Errorf("%w: zero State, use acl.New", ErrInvalid)
	}
	if rec.Space != s.space {
		return s, fmt.Errorf("%w: record of space %s applied to %s", ErrInvalid, rec.Space, s.space)
	}
	if _, dup := s.SeqOf(rec.ID); dup {
		return s, fmt.Errorf("%w: %s", ErrReplay, rec.ID)
	}
	if rec.Prev != s.head {
		return s, fmt.Errorf("%w: record %s has prev %q, head is %q", ErrConflict, rec.ID, rec.Prev, s.head)
	}
	if rec.Seq != s.seq+1 {
		return s, fmt.Errorf("%w: got %d, want %d", ErrSequence, rec.Seq, s.seq+1)
	}
	n := s.clone()
	n.seq = rec.Seq
	n.head = rec.ID
	var err error
	if s.seq == 0 {
		err = n.applyRoot(rec)
	} else {
		err = n.applyOp(rec)
	}
	if err != nil {
		return s, err
	}
	n.commitHistory(s, rec.ID)
	return n, nil
}

func (s State) clone() State {
	n := s
	n.members = maps.Clone(s.members)
	n.invites = maps.Clone(s.invites)
	n.requests = maps.Clone(s.requests)
	n.removed = maps.Clone(s.removed)
	n.epochs = slices.Clone(s.epochs)
	n.closedInviteKeys = maps.Clone(s.closedInviteKeys)
	if n.closedInviteKeys == nil {
		n.closedInviteKeys = map[crypto.RecordID]crypto.PubKey{}
	}
	if n.members == nil {
		n.members = map[crypto.PubKey]Member{}
		n.invites = map[crypto.RecordID]Invite{}
		n.requests = map[crypto.RecordID]Request{}
		n.removed = map[crypto.PubKey]uint64{}
	}
	return n
}

// commitHistory appends the new record's id, role changes and key to the shared history.
func (n *State) commitHistory(old State, id crypto.RecordID) {
	h := old.hist
	h.mu.Lock()
	if uint64(len(h.ids)) != old.seq { // someone already extended old: fork a truncated copy
		f := h.truncatedLocked(old.seq)
		h.mu.Unlock()
		h = f
		h.mu.Lock()
	}
	defer h.mu.Unlock()
	n.hist = h
	h.ids = append(h.ids, id)
	h.idx[id] = n.seq
	for k := range keysUnion(old.members, n.members) {
		if old.members[k].Role != n.members[k].Role {
			h.roles[k] = append(h.roles[k], roleAt{seq: n.seq, role: n.members[k].Role})
		}
	}
	if n.ReadKeyID() != old.ReadKeyID() {
		h.keys = append(h.keys, keyAt{seq: n.seq, id: n.ReadKeyID()})
	}
}

// truncatedLocked returns a copy of the first seq records' history. h.mu must be held.
func (h *history) truncatedLocked(seq uint64) *history {
	f := &history{ids: slices.Clone(h.ids[:seq]), idx: map[crypto.RecordID]uint64{}, roles: map[crypto.PubKey][]roleAt{}}
	for k, q := range h.idx {
		if q <= seq {
			f.idx[k] = q
		}
	}
	for k, rs := range h.roles {
		i := 0
		for i < len(rs) && rs[i].seq <= seq {
			i++
		}
		if i > 0 {
			f.roles[k] = slices.Clone(rs[:i])
		}
	}
	for _, k := range h.keys {
		if k.seq <= seq {
			f.keys = append(f.keys, k)
		}
	}
	return f
}

func keysUnion(a, b map[crypto.PubKey]Member) map[crypto.PubKey]struct{} {
	u := make(map[crypto.PubKey]struct{}, len(b)+1)
	for k := range a {
		u[k] = struct{}{}
	}
	for k := range b {
		u[k] = struct{}{}
	}
	return u
}

func permf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrPermission}, args...)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func (n *State) applyRoot(rec VerifiedRecord) error {
	root := rec.Body.GetRoot()
	if root == nil {
		return invalidf("the first record must be a root")
	}
	if rec.Author != n.creator {
		return permf("root authored by %s, space creator is %s", rec.Author, n.creator)
	}
	kid, err := crypto.ParseKeyID(root.KeyId)
	if err != nil || len(root.SealedReadKey) == 0 {
		return invalidf("root needs a key id and a sealed read key")
	}
	n.members[rec.Author] = Member{Key: rec.Author, Role: RoleOwner}
	n.epochs = append(n.epochs, &epoch{
		id: kid, seq: rec.Seq,
		memberGrants: map[crypto.PubKey][]byte{rec.Author: root.SealedReadKey},
		inviteGrants: map[crypto.RecordID][]byte{},
	})
	return nil
}

// assignable reports whether an author with role by may give role r to someone.
func assignable(by, r Role) bool {
	switch r {
	case RoleReader, RoleWriter:
		return by.CanAdmin()
	case RoleAdmin:
		return by == RoleOwner
	}
	return false
}

func (n *State) curEpochForWrite() *epoch {
	e := n.epochs[len(n.epochs)-1].clone()
	n.epochs[len(n.epochs)-1] = e
	return e
}

func (n *State) applyOp(rec VerifiedRecord) error {
	author := n.members[rec.Author].Role
	switch op := rec.Body.Op.(type) {
	case *syncpb.AclRecord_Root:
		return invalidf("a second root")

	case *syncpb.AclRecord_Invite:
		in := op.Invite
		if !author.CanAdmin() {
			return permf("%s (%s) cannot invite", rec.Author, author)
		}
		key, err := crypto.UnmarshalPubKey(in.InviteKey)
		if err != nil {
			return invalidf("invite key: %v", err)
		}
		role := Role(in.Role)
		if !assignable(author, role) {
			return permf("%s cannot invite as %s", author, role)
		}
		if err := checkName(in.AuthorName); err != nil {
			return err
		}
		if in.RequiresApproval {
			if len(in.SealedReadKey) != 0 {
				return invalidf("an invite with approval carries no read key")
			}
		} else {
			if len(in.SealedReadKey) == 0 || crypto.KeyID(in.KeyId) != n.ReadKeyID() {
				return invalidf("an invite without approval carries the current read key (%s)", n.ReadKeyID())
			}
			n.curEpochForWrite().inviteGrants[rec.ID] = in.SealedReadKey
		}
		n.invites[rec.ID] = Invite{ID: rec.ID, Key: key, Role: role, RequiresApproval: in.RequiresApproval, CreatedSeq: rec.Seq,
			Creator: rec.Author, Created: rec.Timestamp}

	case *syncpb.AclRecord_JoinRequest:
		jr := op.JoinRequest
		inv, ok := n.invites[crypto.RecordID(jr.InviteId)]
		if !ok {
			return permf("invite %q is not open", jr.InviteId)
		}
		if author != RoleNone {
			return invalidf("%s is already a member", rec.Author)
		}
		if q, ok := n.removed[rec.Author]; ok && q >= inv.CreatedSeq {
			return permf("%s was removed after invite %s was created", rec.Author, inv.ID)
		}
		if !inv.Key.Verify(JoinInviteMessage(n.space, inv.ID, rec.Author), jr.InviteSignature) {
			return invalidf("join request not signed by the invite key")
		}
		if err := checkName(jr.Name); err != nil {
			return err
		}
		for _, r := range n.requests {
			if r.Joiner == rec.Author {
				return invalidf("%s already has a pending request", rec.Author)
			}
		}
		if inv.RequiresApproval {
			n.requests[rec.ID] = Request{ID: rec.ID, Joiner: rec.Author, Invite: inv.ID}
		} else {
			n.members[rec.Author] = Member{Key: rec.Author, Role: inv.Role, JoinedVia: inv.ID}
		}

	case *syncpb.AclRecord_JoinAccept:
		ja := op.JoinAccept
		if !author.CanAdmin() {
			return permf("%s (%s) cannot accept join requests", rec.Author, author)
		}
		req, ok := n.requests[crypto.RecordID(ja.RequestId)]
		if !ok {
			return invalidf("no pending request %q", ja.RequestId)
		}
		role := Role(ja.Role)
		if !assignable(author, role) {
			return permf("%s cannot grant %s", author, role)
		}
		if len(ja.SealedReadKey) == 0 || crypto.KeyID(ja.KeyId) != n.ReadKeyID() {
			return invalidf("join accept must seal the current read key (%s)", n.ReadKeyID())
		}
		delete(n.requests, req.ID)
		n.members[req.Joiner] = Member{Key: req.Joiner, Role: role, JoinedVia: req.Invite}
		n.curEpochForWrite().memberGrants[req.Joiner] = ja.SealedReadKey

	case *syncpb.AclRecord_JoinDecline:
		if !author.CanAdmin() {
			return permf("%s (%s) cannot decline join requests", rec.Author, author)
		}
		id := crypto.RecordID(op.JoinDecline.RequestId)
		if _, ok := n.requests[id]; !ok {
			return invalidf("no pending request %q", id)
		}
		delete(n.requests, id)

	case *syncpb.AclRecord_Remove:
		rm := op.Remove
		if !author.CanAdmin() {
			return permf("%s (%s) cannot remove members", rec.Author, author)
		}
		if len(rm.Identities) == 0 {
			return invalidf("remove names nobody")
		}
		for _, b := range rm.Identities {
			who, err := crypto.UnmarshalPubKey(b)
			if err != nil {
				return invalidf("remove: %v", err)
			}
			m, ok := n.members[who]
			if !ok {
				return invalidf("remove: %s is not a member", who)
			}
			if m.Role == RoleOwner || (m.Role == RoleAdmin && author != RoleOwner) {
				return permf("%s cannot remove %s (%s)", author, who, m.Role)
			}
			delete(n.members, who)
			n.removed[who] = rec.Seq
			// A no-approval invite the removed member joined through holds a key it may know:
			// close it, so no new read key is sealed to it.
			if inv, ok := n.invites[m.JoinedVia]; ok && !inv.RequiresApproval {
				n.closeInvite(inv.ID)
			}
		}
		if rm.Rotation == nil {
			return invalidf("remove without key rotation")
		}
		if rm.ClosesInvites {
			// The removed member may know any open link (they are shared in the same chats):
			// every open invite closes, so the rotation below is sealed to members only and no
			// link opens the space again. Pending requests stay for an admin to answer.
			for id := range n.invites {
				n.closeInviteOnly(id)
			}
		}
		return n.rotate(rec, rm.Rotation)

	case *syncpb.AclRecord_Leave:
		if author == RoleNone {
			return invalidf("%s is not a member", rec.Author)
		}
		if author == RoleOwner {
			return permf("the owner cannot leave; delete the space instead")
		}
		// Like Remove, close the no-approval invite the leaver joined through: it holds
		// that invite's key, so later rotations must not seal to it.
		if inv, ok := n.invites[n.members[rec.Author].JoinedVia]; ok && !inv.RequiresApproval {
			n.closeInvite(inv.ID)
		}
		delete(n.members, rec.Author)

	case *syncpb.AclRecord_SetRole:
		sr := op.SetRole
		who, err := crypto.UnmarshalPubKey(sr.Identity)
		if err != nil {
			return invalidf("set role: %v", err)
		}
		m, ok := n.members[who]
		if !ok {
			return invalidf("set role: %s is not a member", who)
		}
		role := Role(sr.Role)
		if !assignable(author, role) || m.Role == RoleOwner || (m.Role == RoleAdmin && author != RoleOwner) {
			return permf("%s cannot change %s from %s to %s", author, who, m.Role, role)
		}
		m.Role = role
		n.members[who] = m

	case *syncpb.AclRecord_RotateKey:
		if !author.CanAdmin() {
			return permf("%s (%s) cannot rotate the read key", rec.Author, author)
		}
		if op.RotateKey.Rotation == nil {
			return invalidf("rotate key without rotation")
		}
		return n.rotate(rec, op.RotateKey.Rotation)

	case *syncpb.AclRecord_InviteRevoke:
		if !author.CanAdmin() {
			return permf("%s (%s) cannot revoke invites", rec.Author, author)
		}
		id := crypto.RecordID(op.InviteRevoke.InviteId)
		if _, ok := n.invites[id]; !ok {
			return invalidf("invite %q is not open", id)
		}
		n.closeInvite(id)

	default:
		return invalidf("unknown operation %T", op)
	}
	return nil
}

// rotate checks that a rotation seals the new key to exactly the current members and the
// open no-approval invites, and appends the new epoch.
func (n *State) rotate(rec VerifiedRecord, r *syncpb.AclKeyRotation) error {
	kid, err := crypto.ParseKeyID(r.KeyId)
	if err != nil {
		return invalidf("rotation key id: %v", err)
	}
	for _, e := range n.epochs {
		if e.id == kid {
			return invalidf("rotation reuses key id %s", kid)
		}
	}
	if len(r.EncryptedPrevKey) == 0 {
		return invalidf("rotation does not carry the previous key")
	}
	e := &epoch{id: kid, seq: rec.Seq, encPrev: r.EncryptedPrevKey,
		memberGrants: make(map[crypto.PubKey][]byte, len(r.Members)), inviteGrants: map[crypto.RecordID][]byte{}}
	for _, g := range r.Members {
		who, err := crypto.UnmarshalPubKey(g.Recipient)
		if err != nil {
			return invalidf("rotation recipient: %v", err)
		}
		if _, ok := n.members[who]; !ok {
			return invalidf("rotation seals the key to %s, who is not a member", who)
		}
		if _, dup := e.memberGrants[who]; dup || len(g.Sealed) == 0 {
			return invalidf("rotation seals twice or empty to %s", who)
		}
		e.memberGrants[who] = g.Sealed
	}
	if len(e.memberGrants) != len(n.members) {
		return invalidf("rotation seals the key to %d of %d members", len(e.memberGrants), len(n.members))
	}
	open := 0
	for _, inv := range n.invites {
		if !inv.RequiresApproval {
			open++
		}
	}
	for _, g := range r.Invites {
		inv, ok := n.invites[crypto.RecordID(g.InviteId)]
		if !ok || inv.RequiresApproval {
			return invalidf("rotation seals the key to %q, not an open no-approval invite", g.InviteId)
		}
		if _, dup := e.inviteGrants[inv.ID]; dup || len(g.Sealed) == 0 {
			return invalidf("rotation seals twice or empty to invite %s", inv.ID)
		}
		e.inviteGrants[inv.ID] = g.Sealed
	}
	if len(e.inviteGrants) != open {
		return invalidf("rotation seals the key to %d of %d open invites", len(e.inviteGrants), open)
	}
	n.epochs = append(n.epochs, e)
	return nil
}

// closeInvite removes an open invite and its pending requests.
func (n *State) closeInvite(id crypto.RecordID) {
	n.closeInviteOnly(id)
	for rid, r := range n.requests {
		if r.Invite == id {
			delete(n.requests, rid)
		}
	}
}

// closeInviteOnly removes an open invite and keeps its pending requests.
func (n *State) closeInviteOnly(id crypto.RecordID) {
	if inv, ok := n.invites[id]; ok && !inv.RequiresApproval {
		n.closedInviteKeys[id] = inv.Key
	}
	delete(n.invites, id)
}

// checkName refuses a display name that is too long or not UTF-8. Names are for people and
// chosen by whoever signs the record; printing them safely is the reader's job.
func checkName(name string) error {
	if len(name) > protocol.MaxNameSize {
		return invalidf("name is %d bytes, limit %d", len(name), protocol.MaxNameSize)
	}
	if !utf8.ValidString(name) {
		return invalidf("name is not UTF-8")
	}
	return nil
}
