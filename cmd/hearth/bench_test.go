package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gogo/protobuf/jsonpb"

	"github.com/hearth-sync/hearth/pb"
)

// benchEvent is a subscription batch as hearth events prints many of.
func benchEvent() *pb.Event {
	details := map[string]*pb.Model_Value{}
	for _, k := range []string{"name", "title", "description", "text", "owner"} {
		details[k] = &pb.Model_Value{Kind: &pb.Model_Value_String_{String_: strings.Repeat(k, 4)}}
	}
	details["n"] = &pb.Model_Value{Kind: &pb.Model_Value_Number{Number: 42}}
	details["tags"] = &pb.Model_Value{Kind: &pb.Model_Value_List{List: &pb.Model_ValueList{Values: []*pb.Model_Value{
		{Kind: &pb.Model_Value_String_{String_: "a"}}, {Kind: &pb.Model_Value_String_{String_: "b"}}}}}}
	e := &pb.Event{Seq: 123456, ContextId: "sub"}
	for range 10 {
		e.Messages = append(e.Messages,
			&pb.Event_Message{Value: &pb.Event_Message_SubscriptionAdd{SubscriptionAdd: &pb.Event_Subscription_Add{SubId: "sub", SpaceId: "s", Id: "o", AfterId: "p"}}},
			&pb.Event_Message{Value: &pb.Event_Message_ObjectDetailsSet{ObjectDetailsSet: &pb.Event_Object_DetailsSet{SubId: "sub", SpaceId: "s", Id: "o", Details: details}}})
	}
	e.Messages = append(e.Messages, &pb.Event_Message{Value: &pb.Event_Message_SubscriptionCounters{SubscriptionCounters: &pb.Event_Subscription_Counters{SubId: "sub", Total: 1000}}})
	return e
}

// BenchmarkEventJSON: one event line of hearth events, through the CLI's
// reflection encoder (protoJSON) and, for comparison, through gogo's jsonpb
// plus the decode/re-encode the CLI used before (upper-case enums, numbers
// as strings).
func BenchmarkEventJSON(b *testing.B) {
	e := benchEvent()
	b.Run("protoJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := eventJSON(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jsonpb-roundtrip", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			if err := (&jsonpb.Marshaler{}).Marshal(&buf, e); err != nil {
				b.Fatal(err)
			}
			var doc map[string]any
			dec := json.NewDecoder(&buf)
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEscapeText(b *testing.B) {
	plain := "Alice's shopping list, week 12 — groceries ☕"
	evil := "Mallory\x1b[31m\u202eevil\x1b]0;title\x07"
	for name, s := range map[string]string{"plain": plain, "escapes": evil} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = escapeText(s)
			}
		})
	}
}
