package store

import (
	"encoding/binary"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Every badger key of the node store. Ids are fixed-length base32, so "/" never occurs in
// them and prefixes cannot collide.
//
//	v                              schema version (1 byte)
//	h/<space>                      signed header
//	st/<space>                     status (statusBytes)
//	as/<space>                     last ACL sequence number (8 bytes BE)
//	a/<space>/<seq 8 BE>           accepted ACL record
//	oh/<space>/<object>            arrival counter (8 BE) | heads (ids joined by ",")
//	c/<space>/<object>/<n 8 BE>    change number n in arrival order (n from 1): len(id) (1 byte) | id | raw
//	ci/<space>/<object>/<change>   marker: the object holds this change
//	ix/<identity>/<space>          marker: identity was a member of space
//	b/<space>/<blob id>            a blob's bytes (sealed by the device; up to MaxBlobSize)
//	bu/<space>                     the space's blob usage in bytes (8 BE), kept in the blob's transaction
//	ow/<space>                     the space's owner (identity); absent for a space stored before quotas
//	uo/<space>                     touched by every write of a space without an owner (SetOwner reads it)
//	pu/<space>                     bytes of the space's changes, noted by a purge before it deletes them (8 BE)
//	us/<identity>                  spaces the identity owns and the node has not purged (8 BE)
//	uc/<identity>                  base of the bytes of changes in the identity's spaces (8 BE)
//	ub/<identity>                  base of the bytes of blobs in the identity's spaces (8 BE)
//	ud/<identity>/<c|b>/<inst 8><n 8 BE>  a change of uc/ (c) or ub/ (b): int64 BE (usage_badger.go)
//
// Schema 2 added ow/, uo/, pu/ and u*/; a schema 1 store opens as schema 2 with no owners
// (SetOwner charges its spaces later).
const schemaVersion = 2

var keySchema = []byte("v")

func keyHeader(id crypto.SpaceID) []byte { return []byte("h/" + string(id)) }
func keyStatus(id crypto.SpaceID) []byte { return []byte("st/" + string(id)) }
func keyACLSeq(id crypto.SpaceID) []byte { return []byte("as/" + string(id)) }
func prefixACL(id crypto.SpaceID) []byte { return []byte("a/" + string(id) + "/") }
func keyACL(id crypto.SpaceID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(prefixACL(id), seq)
}
func prefixObjects(id crypto.SpaceID) []byte { return []byte("oh/" + string(id) + "/") }
func keyObject(id crypto.SpaceID, obj crypto.ObjectID) []byte {
	return append(prefixObjects(id), obj...)
}
func prefixChanges(id crypto.SpaceID) []byte { return []byte("c/" + string(id) + "/") }
func prefixObjChanges(id crypto.SpaceID, obj crypto.ObjectID) []byte {
	return append(prefixChanges(id), string(obj)+"/"...)
}
func keyChange(id crypto.SpaceID, obj crypto.ObjectID, n uint64) []byte {
	return binary.BigEndian.AppendUint64(prefixObjChanges(id, obj), n)
}
func prefixChangeIDs(id crypto.SpaceID) []byte { return []byte("ci/" + string(id) + "/") }
func keyChangeID(id crypto.SpaceID, obj crypto.ObjectID, c crypto.ChangeID) []byte {
	return append(prefixChangeIDs(id), string(obj)+"/"+string(c)...)
}
func prefixIndex(who crypto.PubKey) []byte { return []byte("ix/" + string(who.Identity()) + "/") }
func keyIndex(who crypto.PubKey, id crypto.SpaceID) []byte {
	return append(prefixIndex(who), id...)
}
func prefixBlobs(id crypto.SpaceID) []byte { return []byte("b/" + string(id) + "/") }
func keyBlob(id crypto.SpaceID, blob string) []byte {
	return append(prefixBlobs(id), blob...)
}
func keyBlobUsage(id crypto.SpaceID) []byte { return []byte("bu/" + string(id)) }

func keyOwner(id crypto.SpaceID) []byte      { return []byte("ow/" + string(id)) }
func keyUnowned(id crypto.SpaceID) []byte    { return []byte("uo/" + string(id)) }
func keyPurgeUsage(id crypto.SpaceID) []byte { return []byte("pu/" + string(id)) }

// Keys of an owner's counters: spaces, bytes of changes, bytes of blobs.
func keyOwnerSpaces(owner string) []byte  { return []byte("us/" + owner) }
func keyOwnerChanges(owner string) []byte { return []byte("uc/" + owner) }
func keyOwnerBlobs(owner string) []byte   { return []byte("ub/" + owner) }
