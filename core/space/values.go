package space

import (
	"fmt"
	"math"
	"strings"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/spaceindex"
)

// reservedPrefix starts detail keys that only Hearth writes (e.g. "$deleted").
const reservedPrefix = "$"

// keyDeleted marks a deleted object in its change history.
const keyDeleted = reservedPrefix + "deleted"

// Derived keys: computed from the changes, identical on every device.
const (
	keyType     = spaceindex.KeyType
	keyCreated  = spaceindex.KeyCreated
	keyModified = spaceindex.KeyModified
)

// checkUserKey refuses keys that users may not write.
func checkUserKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty detail key")
	case strings.HasPrefix(k, reservedPrefix):
		return fmt.Errorf("detail key %q: keys starting with %q are reserved", k, reservedPrefix)
	case k == keyType || k == keyCreated || k == keyModified || k == spaceindex.KeyID || k == spaceindex.KeySyncStatus:
		return fmt.Errorf("detail key %q is derived from the object's changes and cannot be set", k)
	case len(k) > 256:
		return fmt.Errorf("detail key is %d bytes, limit 256", len(k))
	}
	return nil
}

// checkValue refuses values the protocol would refuse (too deep, NaN).
func checkValue(v *syncpb.Value, depth int) error {
	if depth > protocol.MaxValueDepth {
		return fmt.Errorf("value nested deeper than %d", protocol.MaxValueDepth)
	}
	switch k := v.GetKind().(type) {
	case nil:
		return nil
	case *syncpb.Value_Number:
		if math.IsNaN(k.Number) || math.IsInf(k.Number, 0) {
			return fmt.Errorf("number %v is not allowed", k.Number)
		}
	case *syncpb.Value_List:
		for _, e := range k.List.GetValues() {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexValue converts a protocol value to the index's value.
func indexValue(v *syncpb.Value) spaceindex.Value {
	switch k := v.GetKind().(type) {
	case *syncpb.Value_Bool:
		return spaceindex.Bool(k.Bool)
	case *syncpb.Value_Number:
		return spaceindex.Number(k.Number)
	case *syncpb.Value_String_:
		return spaceindex.String(k.String_)
	case *syncpb.Value_List:
		vs := make([]spaceindex.Value, len(k.List.GetValues()))
		for i, e := range k.List.GetValues() {
			vs[i] = indexValue(e)
		}
		return spaceindex.List(vs...)
	}
	return spaceindex.Null()
}
