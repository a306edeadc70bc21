package objtree

import (
	"bytes"
	"slices"

	"github.com/hearth-sync/hearth/pb/syncpb"
)

// State is an object's details: key -> typed value (null, bool, number, string, list).
// Ops apply in the deterministic order, so the last writer in that order wins per key.
type State struct {
	details map[string]*syncpb.Value
}

// NewState returns an empty state.
func NewState() *State { return &State{details: map[string]*syncpb.Value{}} }

// Apply applies ops in order. Set replaces, Unset deletes, ListAdd appends (turning a
// missing or non-list value into a one-element list), ListRemove drops every equal element.
func (s *State) Apply(ops []*syncpb.Op) {
	for _, op := range ops {
		switch o := op.Op.(type) {
		case *syncpb.Op_Set:
			s.details[o.Set.Key] = orNull(o.Set.Value)
		case *syncpb.Op_Unset:
			delete(s.details, o.Unset.Key)
		case *syncpb.Op_ListAdd:
			cur := s.details[o.ListAdd.Key].GetList()
			var vals []*syncpb.Value
			if cur != nil {
				vals = slices.Clone(cur.Values)
			}
			vals = append(vals, orNull(o.ListAdd.Value))
			s.details[o.ListAdd.Key] = List(vals...)
		case *syncpb.Op_ListRemove:
			cur := s.details[o.ListRemove.Key].GetList()
			if cur == nil {
				continue
			}
			rm, _ := orNull(o.ListRemove.Value).Marshal()
			vals := make([]*syncpb.Value, 0, len(cur.Values))
			for _, v := range cur.Values {
				if b, _ := orNull(v).Marshal(); !bytes.Equal(b, rm) {
					vals = append(vals, v)
				}
			}
			s.details[o.ListRemove.Key] = List(vals...)
		}
	}
}

func orNull(v *syncpb.Value) *syncpb.Value {
	if v == nil || v.Kind == nil {
		return Null()
	}
	return v
}

// Get returns the value at key.
func (s *State) Get(key string) (*syncpb.Value, bool) { v, ok := s.details[key]; return v, ok }

// Keys returns the sorted keys.
func (s *State) Keys() []string {
	out := make([]string, 0, len(s.details))
	for k := range s.details {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Marshal is a deterministic encoding of the state (a ChangeOps of Sets in key order):
// equal states give equal bytes.
func (s *State) Marshal() []byte {
	ops := make([]*syncpb.Op, 0, len(s.details))
	for _, k := range s.Keys() {
		ops = append(ops, Set(k, s.details[k]))
	}
	b, _ := (&syncpb.ChangeOps{Ops: ops}).Marshal()
	return b
}

// Value and op constructors.

// Null is the null value.
func Null() *syncpb.Value { return &syncpb.Value{Kind: &syncpb.Value_Null{Null: true}} }

// Bool is a bool value.
func Bool(b bool) *syncpb.Value { return &syncpb.Value{Kind: &syncpb.Value_Bool{Bool: b}} }

// Number is a number value.
func Number(f float64) *syncpb.Value { return &syncpb.Value{Kind: &syncpb.Value_Number{Number: f}} }

// String is a string value.
func String(s string) *syncpb.Value { return &syncpb.Value{Kind: &syncpb.Value_String_{String_: s}} }

// List is a list value.
func List(vs ...*syncpb.Value) *syncpb.Value {
	return &syncpb.Value{Kind: &syncpb.Value_List{List: &syncpb.ListValue{Values: vs}}}
}

// Set sets key to v.
func Set(key string, v *syncpb.Value) *syncpb.Op {
	return &syncpb.Op{Op: &syncpb.Op_Set{Set: &syncpb.OpSet{Key: key, Value: v}}}
}

// Unset deletes key.
func Unset(key string) *syncpb.Op {
	return &syncpb.Op{Op: &syncpb.Op_Unset{Unset: &syncpb.OpUnset{Key: key}}}
}

// ListAdd appends v to the list at key.
func ListAdd(key string, v *syncpb.Value) *syncpb.Op {
	return &syncpb.Op{Op: &syncpb.Op_ListAdd{ListAdd: &syncpb.OpListAdd{Key: key, Value: v}}}
}

// ListRemove removes every element equal to v from the list at key.
func ListRemove(key string, v *syncpb.Value) *syncpb.Op {
	return &syncpb.Op{Op: &syncpb.Op_ListRemove{ListRemove: &syncpb.OpListRemove{Key: key, Value: v}}}
}
