package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hearth-sync/hearth/pb"
)

// parseValue reads a CLI value: JSON when it parses (numbers, true/false,
// null, "strings", arrays), else the text itself as a string.
func parseValue(text string) (*pb.Model_Value, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return stringValue(text), nil
	}
	return jsonToValue(v, text)
}

func stringValue(s string) *pb.Model_Value {
	return &pb.Model_Value{Kind: &pb.Model_Value_String_{String_: s}}
}

func jsonToValue(v any, text string) (*pb.Model_Value, error) {
	switch x := v.(type) {
	case nil:
		return &pb.Model_Value{Kind: &pb.Model_Value_Null{Null: true}}, nil
	case bool:
		return &pb.Model_Value{Kind: &pb.Model_Value_Bool{Bool: x}}, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%s: not a representable number", x)
		}
		return &pb.Model_Value{Kind: &pb.Model_Value_Number{Number: f}}, nil
	case string:
		return stringValue(x), nil
	case []any:
		list := &pb.Model_ValueList{}
		for _, e := range x {
			c, err := jsonToValue(e, text)
			if err != nil {
				return nil, err
			}
			list.Values = append(list.Values, c)
		}
		return &pb.Model_Value{Kind: &pb.Model_Value_List{List: list}}, nil
	}
	return nil, fmt.Errorf("%s: JSON objects are not detail values (quote the text to store it as a string)", text)
}

// valueToJSON turns an API value into plain JSON data.
func valueToJSON(v *pb.Model_Value) any {
	switch k := v.GetKind().(type) {
	case *pb.Model_Value_Bool:
		return k.Bool
	case *pb.Model_Value_Number:
		return k.Number
	case *pb.Model_Value_String_:
		return k.String_
	case *pb.Model_Value_List:
		out := make([]any, 0, len(k.List.GetValues()))
		for _, e := range k.List.GetValues() {
			out = append(out, valueToJSON(e))
		}
		return out
	}
	return nil
}

func detailsToJSON(d map[string]*pb.Model_Value) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[k] = valueToJSON(v)
	}
	return out
}

// parseAssignments reads KEY=VALUE arguments.
func parseAssignments(args []string) (map[string]*pb.Model_Value, error) {
	out := make(map[string]*pb.Model_Value, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want KEY=VALUE", a)
		}
		val, err := parseValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = val
	}
	return out, nil
}

var filterOps = map[string]pb.Model_Filter_Condition{
	"=": pb.Model_Filter_EQ, "!=": pb.Model_Filter_NE,
	">": pb.Model_Filter_GT, ">=": pb.Model_Filter_GTE,
	"<": pb.Model_Filter_LT, "<=": pb.Model_Filter_LTE,
	"in": pb.Model_Filter_IN, "nin": pb.Model_Filter_NOT_IN,
	"exists": pb.Model_Filter_EXISTS, "empty": pb.Model_Filter_EMPTY,
	"contains": pb.Model_Filter_CONTAINS,
}

// parseFilter reads 'KEY OP VALUE': VALUE is everything after OP (spaces
// included), parsed like any value; exists and empty take none.
func parseFilter(text string) (*pb.Model_Filter, error) {
	fields := strings.Fields(text)
	if len(fields) < 2 {
		return nil, fmt.Errorf("filter %q: want 'KEY OP VALUE'", text)
	}
	key, op := fields[0], fields[1]
	cond, ok := filterOps[op]
	if !ok {
		ops := make([]string, 0, len(filterOps))
		for o := range filterOps {
			ops = append(ops, o)
		}
		sort.Strings(ops)
		return nil, fmt.Errorf("filter %q: unknown operator %q (one of %s)", text, op, strings.Join(ops, " "))
	}
	rest := strings.TrimLeft(text, " \t")
	rest = strings.TrimLeft(rest[len(key):], " \t")
	rest = strings.TrimLeft(rest[len(op):], " \t")
	f := &pb.Model_Filter{Key: key, Condition: cond}
	switch cond {
	case pb.Model_Filter_EXISTS, pb.Model_Filter_EMPTY:
		if rest != "" {
			return nil, fmt.Errorf("filter %q: %s takes no value", text, op)
		}
		return f, nil
	}
	if rest == "" {
		return nil, fmt.Errorf("filter %q: %s needs a value", text, op)
	}
	v, err := parseValue(rest)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", text, err)
	}
	if (cond == pb.Model_Filter_IN || cond == pb.Model_Filter_NOT_IN) && v.GetList() == nil {
		return nil, fmt.Errorf("filter %q: %s takes a JSON array", text, op)
	}
	f.Value = v
	return f, nil
}

// Lower-case words for the enums (CLI.md).
var (
	modeWords          = []string{"unloaded", "loading", "loaded", "joining", "offloading", "offloaded"}
	accountStatusWords = []string{"active", "joining", "deleted", "removed"}
	localStatusWords   = []string{"unknown", "loading", "ok", "missing", "error"}
	remoteStatusWords  = []string{"unknown", "ok", "pendingDeletion", "deleted"}
)

func word(words []string, i int32) string {
	if i >= 0 && int(i) < len(words) {
		return words[i]
	}
	return fmt.Sprintf("unknown(%d)", i)
}

func syncStatusWord(s pb.Model_SyncStatus) string {
	switch s {
	case pb.Model_SYNC_STATUS_SYNCED:
		return "synced"
	case pb.Model_SYNC_STATUS_SYNCING:
		return "syncing"
	case pb.Model_SYNC_STATUS_ERROR:
		return "error"
	}
	return "queued"
}
