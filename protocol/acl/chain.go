package acl

import (
	"fmt"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Accept is the acceptor's (sync node's) whole step for one author-signed record: verify
// it, countersign it with the next sequence number and fold it. On success the caller
// stores rec.Accepted and answers Accepted; an error wrapping ErrConflict means "prev is
// not the head" (answer Conflict with the current head), anything else is a rejection.
// It is outside the fold because it uses the node's private key.
func Accept(s State, node crypto.PrivKey, raw []byte) (State, VerifiedRecord, error) {
	rec, err := VerifyAuthor(raw)
	if err != nil {
		return s, VerifiedRecord{}, err
	}
	if err := Acceptable(rec); err != nil {
		return s, VerifiedRecord{}, err
	}
	vr, err := Countersign(node, rec, s.Seq()+1)
	if err != nil {
		return s, VerifiedRecord{}, err
	}
	n, err := s.Apply(vr)
	if err != nil {
		return s, VerifiedRecord{}, err
	}
	return n, vr, nil
}

// Acceptable holds the rules a new record must meet beyond the fold's: the fold also reads
// chains stored before a rule existed, the acceptor takes only records made under every
// rule. Today: a Remove closes every open invite (AclRemove.closes_invites), so a removed
// member who knows another open link cannot read the new read key or join again.
func Acceptable(rec Record) error {
	if rm := rec.Body.GetRemove(); rm != nil && !rm.ClosesInvites {
		return fmt.Errorf("%w: a remove must close every open invite (closes_invites)", ErrPermission)
	}
	return nil
}

// Replay folds accepted records (node-signed, in sequence order) onto s, verifying each
// against the pinned node key. It is all-or-nothing: on error s is returned unchanged
// together with the index of the failing record.
func Replay(s State, node crypto.PubKey, accepted [][]byte) (State, error) {
	n := s
	for i, raw := range accepted {
		vr, err := Verify(raw, node)
		if err != nil {
			return s, fmt.Errorf("record %d: %w", i, err)
		}
		if n, err = n.Apply(vr); err != nil {
			return s, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return n, nil
}
