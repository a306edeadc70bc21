// Package membership carries out the ACL operations that need the sync node
// — invite links, joining with or without approval, approving and declining
// requests, removing members (with key rotation), leaving, and deleting a
// space — and folds a space's ACL history into its member list.
//
// It builds records with protocol/acl on the space's current state, has the
// node accept them (retrying on a conflict after catching up), and applies
// the node's accepted record to the space before returning: a command's
// effect is visible to the next command. It never changes a space's mode;
// the lifecycle reacts to what it did.
package membership
