package clientlibrary

import (
	"fmt"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/spaceindex"
)

// maxValueDepth bounds list nesting accepted from callers before it reaches
// core (which enforces the protocol's own limit).
const maxValueDepth = 32

// fromAPIValue converts an API value to the protocol's value.
func fromAPIValue(v *pb.Model_Value, depth int) (*syncpb.Value, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("value nested deeper than %d", maxValueDepth)
	}
	switch k := v.GetKind().(type) {
	case nil, *pb.Model_Value_Null:
		return &syncpb.Value{Kind: &syncpb.Value_Null{Null: true}}, nil
	case *pb.Model_Value_Bool:
		return &syncpb.Value{Kind: &syncpb.Value_Bool{Bool: k.Bool}}, nil
	case *pb.Model_Value_Number:
		return &syncpb.Value{Kind: &syncpb.Value_Number{Number: k.Number}}, nil
	case *pb.Model_Value_String_:
		return &syncpb.Value{Kind: &syncpb.Value_String_{String_: k.String_}}, nil
	case *pb.Model_Value_List:
		out := &syncpb.ListValue{}
		for _, e := range k.List.GetValues() {
			c, err := fromAPIValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out.Values = append(out.Values, c)
		}
		return &syncpb.Value{Kind: &syncpb.Value_List{List: out}}, nil
	}
	return nil, fmt.Errorf("unknown value kind %T", v.GetKind())
}

// toAPIValue converts a protocol value to the API's value.
func toAPIValue(v *syncpb.Value) *pb.Model_Value {
	switch k := v.GetKind().(type) {
	case *syncpb.Value_Bool:
		return &pb.Model_Value{Kind: &pb.Model_Value_Bool{Bool: k.Bool}}
	case *syncpb.Value_Number:
		return &pb.Model_Value{Kind: &pb.Model_Value_Number{Number: k.Number}}
	case *syncpb.Value_String_:
		return &pb.Model_Value{Kind: &pb.Model_Value_String_{String_: k.String_}}
	case *syncpb.Value_List:
		out := &pb.Model_ValueList{}
		for _, e := range k.List.GetValues() {
			out.Values = append(out.Values, toAPIValue(e))
		}
		return &pb.Model_Value{Kind: &pb.Model_Value_List{List: out}}
	}
	return &pb.Model_Value{Kind: &pb.Model_Value_Null{Null: true}}
}

// indexToAPIValue converts an index value to the API's value.
func indexToAPIValue(v spaceindex.Value) *pb.Model_Value {
	switch v.Kind() {
	case spaceindex.KindBool:
		return &pb.Model_Value{Kind: &pb.Model_Value_Bool{Bool: v.AsBool()}}
	case spaceindex.KindNumber:
		return &pb.Model_Value{Kind: &pb.Model_Value_Number{Number: v.AsNumber()}}
	case spaceindex.KindString:
		return &pb.Model_Value{Kind: &pb.Model_Value_String_{String_: v.AsString()}}
	case spaceindex.KindList:
		out := &pb.Model_ValueList{}
		for _, e := range v.AsList() {
			out.Values = append(out.Values, indexToAPIValue(e))
		}
		return &pb.Model_Value{Kind: &pb.Model_Value_List{List: out}}
	}
	return &pb.Model_Value{Kind: &pb.Model_Value_Null{Null: true}}
}

// toIndexValue converts an API value to the index's value (for filters).
func toIndexValue(v *pb.Model_Value, depth int) (spaceindex.Value, error) {
	if depth > maxValueDepth {
		return spaceindex.Value{}, fmt.Errorf("value nested deeper than %d", maxValueDepth)
	}
	switch k := v.GetKind().(type) {
	case nil, *pb.Model_Value_Null:
		return spaceindex.Null(), nil
	case *pb.Model_Value_Bool:
		return spaceindex.Bool(k.Bool), nil
	case *pb.Model_Value_Number:
		return spaceindex.Number(k.Number), nil
	case *pb.Model_Value_String_:
		return spaceindex.String(k.String_), nil
	case *pb.Model_Value_List:
		vs := make([]spaceindex.Value, 0, len(k.List.GetValues()))
		for _, e := range k.List.GetValues() {
			c, err := toIndexValue(e, depth+1)
			if err != nil {
				return spaceindex.Value{}, err
			}
			vs = append(vs, c)
		}
		return spaceindex.List(vs...), nil
	}
	return spaceindex.Value{}, fmt.Errorf("unknown value kind %T", v.GetKind())
}

func fromAPIDetails(d map[string]*pb.Model_Value) (space.Details, error) {
	out := make(space.Details, len(d))
	for k, v := range d {
		c, err := fromAPIValue(v, 0)
		if err != nil {
			return nil, fmt.Errorf("detail %q: %w", k, err)
		}
		out[k] = c
	}
	return out, nil
}

var conditionOps = map[pb.Model_Filter_Condition]spaceindex.Op{
	pb.Model_Filter_EQ:        spaceindex.OpEq,
	pb.Model_Filter_NE:        spaceindex.OpNe,
	pb.Model_Filter_GT:        spaceindex.OpGt,
	pb.Model_Filter_GTE:       spaceindex.OpGte,
	pb.Model_Filter_LT:        spaceindex.OpLt,
	pb.Model_Filter_LTE:       spaceindex.OpLte,
	pb.Model_Filter_IN:        spaceindex.OpIn,
	pb.Model_Filter_NOT_IN:    spaceindex.OpNotIn,
	pb.Model_Filter_EXISTS:    spaceindex.OpExists,
	pb.Model_Filter_EMPTY:     spaceindex.OpEmpty,
	pb.Model_Filter_CONTAINS:  spaceindex.OpContains,
	pb.Model_Filter_FULL_TEXT: spaceindex.OpFullText,
}

// maxFilterDepth bounds nested and/or filters from callers.
const maxFilterDepth = 16

// toIndexFilter converts an API filter tree to the index's filter.
func toIndexFilter(f *pb.Model_Filter, depth int) (spaceindex.Filter, error) {
	if depth > maxFilterDepth {
		return spaceindex.Filter{}, fmt.Errorf("filters nested deeper than %d", maxFilterDepth)
	}
	switch f.GetCondition() {
	case pb.Model_Filter_AND, pb.Model_Filter_OR:
		children := make([]spaceindex.Filter, 0, len(f.Filters))
		for _, c := range f.Filters {
			cf, err := toIndexFilter(c, depth+1)
			if err != nil {
				return spaceindex.Filter{}, err
			}
			children = append(children, cf)
		}
		if f.GetCondition() == pb.Model_Filter_AND {
			return spaceindex.And(children...), nil
		}
		return spaceindex.Or(children...), nil
	case pb.Model_Filter_NONE:
		return spaceindex.Filter{}, fmt.Errorf("filter on %q has no condition", f.GetKey())
	}
	op, ok := conditionOps[f.GetCondition()]
	if !ok {
		return spaceindex.Filter{}, fmt.Errorf("unknown filter condition %d", f.GetCondition())
	}
	v, err := toIndexValue(f.GetValue(), 0)
	if err != nil {
		return spaceindex.Filter{}, err
	}
	if op == spaceindex.OpFullText {
		return spaceindex.FullText(v.AsString()), nil
	}
	return spaceindex.Filter{Op: op, Key: f.GetKey(), Value: v}, nil
}

func apiSyncStatus(st spaceindex.SyncStatus) pb.Model_SyncStatus {
	switch st.State {
	case spaceindex.SyncSynced:
		return pb.Model_SYNC_STATUS_SYNCED
	case spaceindex.SyncSyncing:
		return pb.Model_SYNC_STATUS_SYNCING
	case spaceindex.SyncError:
		return pb.Model_SYNC_STATUS_ERROR
	}
	return pb.Model_SYNC_STATUS_QUEUED // unknown is never reported as synced
}

// toIndexQuery converts the API's filters (and-ed, with an optional
// full-text query) and sorts to the index's.
func toIndexQuery(filters []*pb.Model_Filter, sorts []*pb.Model_Sort, text string) (spaceindex.Filter, []spaceindex.Sort, error) {
	var conds []spaceindex.Filter
	for _, f := range filters {
		cf, err := toIndexFilter(f, 0)
		if err != nil {
			return spaceindex.Filter{}, nil, err
		}
		conds = append(conds, cf)
	}
	if text != "" {
		conds = append(conds, spaceindex.FullText(text))
	}
	var filter spaceindex.Filter
	if len(conds) == 1 {
		filter = conds[0]
	} else if len(conds) > 1 {
		filter = spaceindex.And(conds...)
	}
	var out []spaceindex.Sort
	for _, s := range sorts {
		out = append(out, spaceindex.Sort{Key: s.GetKey(), Desc: s.GetDesc()})
	}
	return filter, out, nil
}

// indexToAPIDetails converts index details to the API's.
func indexToAPIDetails(d spaceindex.Details) map[string]*pb.Model_Value {
	out := make(map[string]*pb.Model_Value, len(d))
	for k, v := range d {
		out[k] = indexToAPIValue(v)
	}
	return out
}
