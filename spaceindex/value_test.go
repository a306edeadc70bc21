package spaceindex

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// genValue draws values with a bias towards collisions (small domains) so
// that equality and ordering edges are exercised.
func genValue(depth int) *rapid.Generator[Value] {
	return rapid.Custom(func(t *rapid.T) Value {
		max := 4
		if depth <= 0 {
			max = 3
		}
		switch rapid.IntRange(0, max).Draw(t, "kind") {
		case 0:
			return Null()
		case 1:
			return Bool(rapid.Bool().Draw(t, "b"))
		case 2:
			return Number(rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 1, -1, 2.5, -2.5, 1e300,
				-1e300, math.Inf(1), math.Inf(-1), math.NaN(), 3, 42}).Draw(t, "n"))
		case 3:
			return String(rapid.SampledFrom([]string{"", "a", "A", "ab", "a\x00", "a\x00b", "b", "é", "e",
				"Été", "ete", "z", "\xff", "日本"}).Draw(t, "s"))
		}
		return List(rapid.SliceOfN(genValue(depth-1), 0, 3).Draw(t, "l")...)
	})
}

func TestValueEncodingOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := genValue(2).Draw(t, "a")
		b := genValue(2).Draw(t, "b")
		ea, eb := AppendValue(nil, a), AppendValue(nil, b)
		if got, want := bytes.Compare(ea, eb), Compare(a, b); got != want {
			t.Fatalf("order of %v, %v: bytes %d, Compare %d", a, b, got, want)
		}
		if Compare(b, a) != -Compare(a, b) {
			t.Fatalf("Compare not antisymmetric on %v, %v", a, b)
		}
		d, n, err := DecodeValue(append(ea, 0xAB))
		if err != nil || n != len(ea) || !Equal(d, a) {
			t.Fatalf("decode %v: %v, %d, %v", a, d, n, err)
		}
		sk, err := skipValue(append(ea, 0x01))
		if err != nil || sk != len(ea) {
			t.Fatalf("skip %v: %d, %v", a, sk, err)
		}
	})
}

func TestValueCanonicalNumbers(t *testing.T) {
	require.True(t, Equal(Number(0), Number(math.Copysign(0, -1))))
	require.True(t, Equal(Number(math.NaN()), Number(-math.NaN())))
	require.Equal(t, 1, Compare(Number(math.NaN()), Number(math.Inf(1))))
	require.Equal(t, -1, Compare(Number(math.Inf(-1)), Number(-1e308)))
	// Cross-type order.
	order := []Value{Null(), Bool(false), Bool(true), Number(-1), Number(5), String(""), String("a"),
		List(), List(Null()), List(String("a"))}
	for i := 1; i < len(order); i++ {
		require.Equal(t, -1, Compare(order[i-1], order[i]), "%v < %v", order[i-1], order[i])
		require.Equal(t, -1, bytes.Compare(AppendValue(nil, order[i-1]), AppendValue(nil, order[i])))
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := Details{}
		for _, k := range rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "name", "", "x\x00y"}), 0, 5).Draw(t, "keys") {
			d[k] = genValue(2).Draw(t, "v")
		}
		r := Record{
			ID:         "id",
			Details:    d,
			HeadsHash:  rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "heads"),
			SyncStatus: SyncStatus{State: SyncState(rapid.IntRange(0, 4).Draw(t, "st")), Reason: SyncErrorReason(rapid.IntRange(0, 4).Draw(t, "re"))},
		}
		enc := appendRecord(nil, &r)
		got, err := DecodeRecord("id", enc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(appendRecord(nil, &got), enc) {
			t.Fatalf("round trip differs")
		}
		h, _, err := decodeHeads(enc)
		if err != nil || !bytes.Equal(h, r.HeadsHash) {
			t.Fatalf("heads %x, %v", h, err)
		}
		sel, err := DecodeRecord("id", enc, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(sel.Details) > 1 {
			t.Fatalf("selection kept %v", sel.Details)
		}
	})
}

func FuzzDecodeValue(f *testing.F) {
	for _, v := range []Value{Null(), Bool(true), Number(-3.5), String("a\x00b"), List(String("x"), List(Number(1)))} {
		f.Add(AppendValue(nil, v))
	}
	f.Add([]byte{tagList, tagList, tagList})
	f.Add([]byte{tagString, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := DecodeValue(b)
		if err != nil {
			return
		}
		if enc := AppendValue(nil, v); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("decode %x -> %v re-encodes to %x", b[:n], v, enc)
		}
		if sk, err := skipValue(b); err != nil || sk != n {
			t.Fatalf("skip %x: %d, %v (decode consumed %d)", b, sk, err, n)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, &Record{ID: "x", Details: Details{"name": String("n"), "l": Strings("a", "b")},
		HeadsHash: []byte{1, 2, 3}, SyncStatus: SyncStatus{State: SyncError, Reason: SyncErrorRejected}}))
	f.Add(appendRecord(nil, &Record{ID: "x"}))
	f.Add([]byte{recordFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord("x", b, nil)
		if err != nil {
			return
		}
		if enc := appendRecord(nil, &r); !bytes.Equal(enc, b) {
			t.Fatalf("decode %x re-encodes to %x", b, enc)
		}
		keys := []string{"name", "l"}
		sel, err := DecodeRecord("x", b, keys)
		if err != nil {
			t.Fatalf("decode %x with keys: %v (without: fine)", b, err)
		}
		// The scratch path reuses a record that held other details.
		reused := Record{Details: Details{"stale": Null()}, HeadsHash: []byte("old")}
		if err := decodeRecordInto(&reused, "x", b, keys, true, nil); err != nil {
			t.Fatalf("decode %x into a reused record: %v", b, err)
		}
		if fmt.Sprint(reused.Details) != fmt.Sprint(sel.Details) || reused.HeadsHash != nil || reused.SyncStatus != sel.SyncStatus {
			t.Fatalf("decode %x into a reused record: %v, fresh: %v", b, reused, sel)
		}
		// The kept path copies heads into a query's arena.
		a := &arena{buf: []byte("used")}
		var kept Record
		if err := decodeRecordInto(&kept, "x", b, keys, false, a); err != nil {
			t.Fatalf("decode %x with an arena: %v", b, err)
		}
		if !bytes.Equal(kept.HeadsHash, sel.HeadsHash) || fmt.Sprint(kept.Details) != fmt.Sprint(sel.Details) {
			t.Fatalf("decode %x with an arena: %v, fresh: %v", b, kept, sel)
		}
	})
}

// A Value stays 40 bytes on 64-bit platforms (value.go says why), and a
// list keeps its elements, an empty one included.
func TestValueSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(Value{}) != 40 {
		t.Fatalf("Value is %d bytes, want 40", unsafe.Sizeof(Value{}))
	}
	l := List(String("a"), Number(2))
	if got := l.AsList(); len(got) != 2 || got[0].AsString() != "a" || got[1].AsNumber() != 2 {
		t.Fatalf("AsList = %v", got)
	}
	if got := List().AsList(); got == nil || len(got) != 0 {
		t.Fatalf("an empty list's elements: %#v, want an empty slice", got)
	}
	if String("x").AsList() != nil {
		t.Fatal("a string has no elements")
	}
	// Tests compare details with reflect.DeepEqual (testify's Equal): it
	// must see every element of a list, not only the first.
	if reflect.DeepEqual(Strings("a", "b"), Strings("a", "c")) {
		t.Fatal("DeepEqual misses a difference past a list's first element")
	}
	if !reflect.DeepEqual(Strings("a", "b"), Strings("a", "b")) || !reflect.DeepEqual(List(), List([]Value{}...)) {
		t.Fatal("DeepEqual tells equal lists apart")
	}
}
