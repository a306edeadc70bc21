package files

import (
	"encoding/hex"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Blob ids are lower-case hex inside this package (blob file names, markers,
// manifests, the node's blob ids). People and the API see a file's id in the
// one printable id encoding every other id uses (lower-case base32, 52
// characters): PublicID and ParseID convert at the edges, and ParseID keeps
// accepting the hex form that file objects made before the change carry.

// PublicID is the printable form of blob id (lower-case base32). A string
// that is not a blob id is returned unchanged.
func PublicID(id string) string {
	if CheckID(id) != nil {
		return id
	}
	raw, _ := hex.DecodeString(id)
	return string(crypto.ContentIDOfHash(raw))
}

// ParseID reads a file id in its printable form or in the older hex form and
// returns the blob id.
func ParseID(s string) (string, error) {
	if CheckID(s) == nil {
		return s, nil
	}
	c, err := crypto.ParseContentID(s)
	if err != nil {
		return "", errkind.Errorf("files", errkind.Invalid, "%q is not a file id (52 lower-case base32 characters, as 'hearth files add' prints it)", trunc(s))
	}
	return hex.EncodeToString(c.Bytes()), nil
}
