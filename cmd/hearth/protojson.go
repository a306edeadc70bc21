package main

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/gogo/protobuf/proto"

	"github.com/hearth-sync/hearth/pb"
)

// protoJSON turns a generated API message into plain JSON data the way the
// CLI contract wants it (docs/cli.md): field names as in the .proto
// (camelCase), enums as the contract's lower-case words ("loaded",
// "pendingDeletion"), every number a JSON number (protobuf's JSON mapping
// prints 64-bit integers as strings), detail values (Model.Value) as the
// plain JSON value, and — like protobuf JSON — fields at their zero value
// left out, except enums: a state's word is always printed. It walks the gogo structs by reflection, so new fields and
// messages come out right without a table here.
func protoJSON(m any) any { return encodeValue(reflect.ValueOf(m)) }

var valueType = reflect.TypeOf(&pb.Model_Value{})

func encodeValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == valueType {
		return valueToJSON(v.Interface().(*pb.Model_Value))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return encodeValue(v.Elem())
	case reflect.Struct:
		return encodeStruct(v)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v.Bytes() // bytes: base64, as encoding/json does
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = encodeValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			out[keyString(it.Key())] = encodeValue(it.Value())
		}
		return out
	case reflect.Int32:
		if w, ok := enumWord(v); ok {
			return w
		}
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case reflect.Int, reflect.Int64:
		return json.Number(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return v.Interface()
}

func keyString(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return k.String()
	}
	return strings.Trim(strings.TrimSpace(string(mustJSON(encodeValue(k)))), `"`)
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func encodeStruct(v reflect.Value) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() || strings.HasPrefix(f.Name, "XXX_") {
			continue
		}
		if _, oneof := f.Tag.Lookup("protobuf_oneof"); oneof {
			if fv.IsNil() {
				continue
			}
			wrapper := fv.Elem().Elem() // *Event_Message_X → Event_Message_X
			for j := range wrapper.NumField() {
				if name := jsonName(wrapper.Type().Field(j)); name != "" {
					out[name] = encodeValue(wrapper.Field(j))
				}
			}
			continue
		}
		name := jsonName(f)
		if name == "" {
			continue
		}
		if _, isEnum := f.Type.MethodByName("EnumDescriptor"); isEnum {
			out[name] = encodeValue(fv) // a state's word is always there ("active" is a zero value)
			continue
		}
		if fv.IsZero() {
			continue
		}
		if (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
			continue
		}
		out[name] = encodeValue(fv)
	}
	return out
}

// jsonName is a generated field's JSON name (its .proto name).
func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("protobuf")
	for _, part := range strings.Split(tag, ",") {
		if n, ok := strings.CutPrefix(part, "json="); ok {
			return n
		}
	}
	for _, part := range strings.Split(tag, ",") {
		if n, ok := strings.CutPrefix(part, "name="); ok {
			return n
		}
	}
	return ""
}

// enumWords caches each enum type's value words.
var enumWords sync.Map // reflect.Type → map[int32]string

// enumWord is the contract's word for an enum value: its .proto name
// without the prefix all values of the enum share, in lower camel case
// (REMOTE_STATUS_PENDING_DELETION → pendingDeletion).
func enumWord(v reflect.Value) (string, bool) {
	t := v.Type()
	if _, isEnum := t.MethodByName("EnumDescriptor"); !isEnum {
		return "", false
	}
	words, ok := enumWords.Load(t)
	if !ok {
		words = buildEnumWords(proto.EnumValueMap("hearth." + t.Name()))
		enumWords.Store(t, words)
	}
	w, ok := words.(map[int32]string)[int32(v.Int())]
	return w, ok
}

func buildEnumWords(values map[string]int32) map[int32]string {
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	prefix := ""
	if len(names) > 1 {
		prefix = names[0]
		for _, n := range names[1:] {
			for !strings.HasPrefix(n, prefix) {
				prefix = prefix[:len(prefix)-1]
			}
		}
		prefix = prefix[:strings.LastIndex(prefix, "_")+1] // whole words only
	}
	out := make(map[int32]string, len(values))
	for n, i := range values {
		out[i] = lowerCamel(strings.TrimPrefix(n, prefix))
	}
	return out
}

func lowerCamel(s string) string {
	parts := strings.Split(strings.ToLower(s), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
