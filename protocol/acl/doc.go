// Package acl owns a space's access-control list: a strictly linear chain of signed
// records folded into a State. It must never do I/O, read the clock, start goroutines or
// hold private keys inside the fold; the client-side Builder and ReadKeys, which need
// private keys, live beside it.
//
// # Records and signatures
//
// A record (syncpb.AclRecord: space id, prev, author, timestamp, one operation) is signed by
// its author in a syncpb.Signed envelope (domain "acl-record"). Its id is the content id of
// the exact payload bytes. The sync node is the single acceptor: it checks the record with
// the same rules (VerifyAuthor, then State.Apply), assigns the next sequence number and
// countersigns syncpb.AclAccepted{record: author envelope bytes, seq, space id} with its node
// key (domain "acl-accepted"). Clients call Verify(raw, pinnedNodeKey), which checks both
// signatures, before Apply. Nothing is ever re-marshaled to verify.
//
// # The fold
//
// State.Apply(VerifiedRecord) (State, error) is a pure value-receiver fold. It rejects a
// record of another space (ErrInvalid), a record already in the chain (ErrReplay), a record
// whose prev is not the head (ErrConflict: the node answers Conflict, the client rebuilds on
// the new head), a wrong acceptor sequence (ErrSequence) and anything the author may not do
// (ErrPermission). The first record must be a Root authored by the space creator.
//
// Roles: Owner (the creator; cannot leave or be removed), Admin (invites, accepts,
// declines, removes and re-roles readers and writers, rotates keys, revokes invites),
// Writer, Reader, None (not a member). Only the owner grants, changes or removes admins.
//
// Operations: Invite (invite key; with approval, or without, carrying the current read key
// sealed to the invite key); JoinRequest (signed by the joiner and, over (space, invite,
// joiner), by the invite key; without approval the joiner is a member at once); JoinAccept
// (seals the current read key to the joiner); JoinDecline; Remove (mandatory rotation);
// Leave; SetRole; RotateKey; InviteRevoke. An identity removed after an invite was created
// can never join through that invite. Removing a member, or a member leaving, also closes
// the no-approval invite it joined through (it holds that invite's private key, so later
// rotations must not seal to it).
//
// # Read-key chain
//
// Every rotation (RotateKey, and the one inside every Remove) introduces a new read key that
// encrypts the previous one (XChaCha20-Poly1305, AAD bound to the space and both key ids)
// and is sealed to exactly the current members and the open no-approval invites; Apply
// checks the recipient sets, and ReadKeys checks every opened key against its key id. A
// member opens its newest grant and walks the chain back, so it reads all history; a removed
// member is in no later grant, so it gets no new key. Leave does not rotate: admins should.
//
// The State also answers RoleAt(record, identity) and ReadKeyIDAt(record) for any record of
// its chain, which objtree uses to validate a change made under an older ACL head.
package acl
