package space

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
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

// maxKeySize bounds a detail key (bytes).
const maxKeySize = 256

// One validation for every op, local and remote (issue 16.6). A device
// applies an op only if checkOp accepts it: a local write with a bad op is
// refused (setOps), and a bad op in a change from another member is dropped
// at replay with a logged reason while the rest of the change applies. The
// rule is a pure function of the op, so every member drops the same ops and
// converges to the same state; nothing it refuses reaches the state, the
// index, an answer or a query.

// checkKey is the rule for the key of any op: not empty, valid UTF-8, at
// most maxKeySize bytes, not a derived key (they come from the changes, not
// from ops), and among reserved keys only "$deleted".
func checkKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty detail key")
	case !utf8.ValidString(k):
		return fmt.Errorf("detail key %q is not valid UTF-8", k)
	case len(k) > maxKeySize:
		return fmt.Errorf("detail key is %d bytes, limit %d", len(k), maxKeySize)
	case k == keyType || k == keyCreated || k == keyModified || k == spaceindex.KeyID || k == spaceindex.KeySyncStatus:
		return fmt.Errorf("detail key %q is derived from the object's changes and cannot be set", k)
	case strings.HasPrefix(k, reservedPrefix) && k != keyDeleted:
		return fmt.Errorf("detail key %q: keys starting with %q are reserved", k, reservedPrefix)
	}
	return nil
}

// checkUserKey refuses keys that users may not write: checkKey's, and every
// reserved key ("$deleted" is written by DeleteObject only).
func checkUserKey(k string) error {
	if strings.HasPrefix(k, reservedPrefix) {
		return fmt.Errorf("detail key %q: keys starting with %q are reserved", k, reservedPrefix)
	}
	return checkKey(k)
}

// checkValue refuses values no device may hold: nested deeper than the
// protocol allows, a NaN or infinite number (JSON has none), a string that
// is not valid UTF-8 (protobuf clients refuse it).
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
	case *syncpb.Value_String_:
		if !utf8.ValidString(k.String_) {
			return fmt.Errorf("string %.40q is not valid UTF-8", k.String_)
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

// checkOp is the apply rule of one op (see above).
func checkOp(op *syncpb.Op) error {
	var key string
	var val *syncpb.Value
	depth := 0
	switch o := op.GetOp().(type) {
	case *syncpb.Op_Set:
		key, val = o.Set.GetKey(), o.Set.GetValue()
	case *syncpb.Op_Unset:
		key = o.Unset.GetKey()
	case *syncpb.Op_ListAdd:
		key, val, depth = o.ListAdd.GetKey(), o.ListAdd.GetValue(), 1 // the element goes one level down
	case *syncpb.Op_ListRemove:
		key, val, depth = o.ListRemove.GetKey(), o.ListRemove.GetValue(), 1
	default:
		return fmt.Errorf("empty or unknown op")
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if key == keyDeleted {
		if _, ok := op.GetOp().(*syncpb.Op_Set); !ok || val.GetKind() == nil || !isBool(val) {
			return fmt.Errorf("%q is set to true or false only", keyDeleted)
		}
		return nil
	}
	if err := checkValue(val, depth); err != nil {
		return fmt.Errorf("detail %q: %w", key, err)
	}
	return nil
}

func isBool(v *syncpb.Value) bool { _, ok := v.GetKind().(*syncpb.Value_Bool); return ok }

// dropped is an op (or a whole change) a replay left out, and why.
type dropped struct {
	change crypto.ChangeID
	op     int // index of the op in the change; -1 for the whole change
	why    string
}

// validOps returns the ops of change c that checkOp accepts, appending the
// others to drops. It returns ops itself when every op is valid.
func validOps(c crypto.ChangeID, ops []*syncpb.Op, drops []dropped) ([]*syncpb.Op, []dropped) {
	var kept []*syncpb.Op
	for i, op := range ops {
		err := checkOp(op)
		if err == nil {
			if kept != nil {
				kept = append(kept, op)
			}
			continue
		}
		if kept == nil {
			kept = append(make([]*syncpb.Op, 0, len(ops)), ops[:i]...)
		}
		drops = append(drops, dropped{change: c, op: i, why: err.Error()})
	}
	if kept == nil {
		return ops, drops
	}
	return kept, drops
}

// maxTypeSize bounds an object type (bytes).
const maxTypeSize = 256

// objectType is the type a root change gives its object: its plaintext type
// when that is valid UTF-8 of at most maxTypeSize bytes, else "" (the rule is
// a pure function of the root, so every member shows the same type).
func objectType(t string) string {
	if len(t) > maxTypeSize || !utf8.ValidString(t) {
		return ""
	}
	return t
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
