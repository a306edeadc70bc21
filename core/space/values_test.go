package space

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/protocol/signed"
	"github.com/hearth-sync/hearth/spaceindex"
)

// writer builds changes of one space as another member's device would: the
// attack programs of issue 16.6 sign whatever ops they like.
type writer struct {
	sp      *Space
	author  crypto.PrivKey
	head    crypto.RecordID
	readKey crypto.SymKey
	ts      int64
}

func newWriter(t testing.TB, c context.Context, sp *Space, author crypto.PrivKey) *writer {
	st, err := sp.AclState(c)
	require.NoError(t, err)
	k, err := sp.ReadKey(c)
	require.NoError(t, err)
	return &writer{sp: sp, author: author, head: st.Head(), readKey: k, ts: 1_000}
}

func (w *writer) builder() objtree.Builder {
	return objtree.Builder{Space: w.sp.ID(), Author: w.author}
}

func (w *writer) root(t testing.TB, typ string) (crypto.ObjectID, []byte) {
	raw, err := w.builder().Root(w.head, w.readKey.ID(), typ, w.tick())
	require.NoError(t, err)
	c, err := objtree.Verify(raw)
	require.NoError(t, err)
	return crypto.ObjectID(c.ID), raw
}

func (w *writer) change(t testing.TB, obj crypto.ObjectID, parents []crypto.ChangeID, ops ...*syncpb.Op) []byte {
	raw, err := w.builder().Change(obj, parents, w.head, w.readKey, ops, w.tick())
	require.NoError(t, err)
	return raw
}

// sealed signs a change whose encrypted payload is plain, whatever it holds
// (Builder only seals ops it marshalled itself).
func (w *writer) sealed(t testing.TB, obj crypto.ObjectID, parents []crypto.ChangeID, plain []byte) []byte {
	enc, err := w.readKey.ObjectKey(obj).Encrypt(crypto.AAD{Space: w.sp.ID(), Object: obj, Key: w.readKey.ID()}, plain)
	require.NoError(t, err)
	ps := make([]string, len(parents))
	for i, p := range parents {
		ps[i] = string(p)
	}
	payload, err := (&syncpb.Change{SpaceId: string(w.sp.ID()), ObjectId: string(obj), Parents: ps, AclHead: string(w.head),
		KeyId: string(w.readKey.ID()), Author: w.author.Public().Bytes(), Timestamp: w.tick(), Encrypted: enc}).Marshal()
	require.NoError(t, err)
	raw, err := signed.Sign(w.author, signed.DomainChange, payload)
	require.NoError(t, err)
	return raw
}

func (w *writer) tick() int64 { w.ts++; return w.ts }

func idOf(t testing.TB, raw []byte) crypto.ChangeID {
	c, err := objtree.Verify(raw)
	require.NoError(t, err)
	return c.ID
}

// deep nests v in n lists.
func deep(v *syncpb.Value, n int) *syncpb.Value {
	for range n {
		v = objtree.List(v)
	}
	return v
}

// requireClean fails unless every key and value of an answer passes the apply
// rule and encodes as JSON (what `object get` and `query --json` print).
func requireClean(t require.TestingT, details Details) {
	for k, v := range details {
		require.NoError(t, checkKey(k), "key %q", k)
		require.False(t, isReserved(k), "reserved key %q shown", k)
		require.NoError(t, checkValue(v, 0), "key %q", k)
		_, err := json.Marshal(jsonOf(v))
		require.NoError(t, err, "key %q", k)
	}
}

func requireCleanRecord(t require.TestingT, r spaceindex.Record) {
	for k, v := range r.Details {
		require.True(t, utf8.ValidString(k), "key %q", k)
		_, err := json.Marshal(indexJSON(v))
		require.NoError(t, err, "key %q", k)
	}
	require.True(t, utf8.ValidString(r.Details[keyType].AsString()))
}

func jsonOf(v *syncpb.Value) any {
	switch k := v.GetKind().(type) {
	case *syncpb.Value_Bool:
		return k.Bool
	case *syncpb.Value_Number:
		return k.Number
	case *syncpb.Value_String_:
		return k.String_
	case *syncpb.Value_List:
		out := []any{}
		for _, e := range k.List.GetValues() {
			out = append(out, jsonOf(e))
		}
		return out
	}
	return nil
}

func indexJSON(v spaceindex.Value) any {
	switch v.Kind() {
	case spaceindex.KindBool:
		return v.AsBool()
	case spaceindex.KindNumber:
		return v.AsNumber()
	case spaceindex.KindString:
		if !utf8.ValidString(v.AsString()) {
			return math.NaN() // fails json.Marshal: invalid UTF-8 must not reach an answer
		}
		return v.AsString()
	case spaceindex.KindList:
		out := []any{}
		for _, e := range v.AsList() {
			out = append(out, indexJSON(e))
		}
		return out
	}
	return nil
}

// sharedSpace is one space on two devices of one account, registered.
func sharedSpace(t *testing.T, c context.Context) (a *env, spA, spB *Space) {
	a, b, node := twoDevices(t)
	id, err := a.svc.Create(c, "Shared")
	require.NoError(t, err)
	spA, err = a.svc.Get(c, id)
	require.NoError(t, err)
	header, records := register(t, c, spA, node)
	_, err = b.svc.Import(c, header, records, "Shared")
	require.NoError(t, err)
	spB, err = b.svc.Get(c, id)
	require.NoError(t, err)
	return a, spA, spB
}

// TestRemoteBadValuesAreDropped is the attack of issue 16.6: another member
// writes a NaN, an infinity, invalid UTF-8, reserved and derived keys, an empty
// key and too deep a value. Each bad op is dropped, the rest of its change
// applies, and get and query answer as usual on both devices, which agree.
func TestRemoteBadValuesAreDropped(t *testing.T) {
	c := ctx(t)
	a, spA, spB := sharedSpace(t, c)
	w := newWriter(t, c, spA, a.account)
	obj, root := w.root(t, "task\xff") // a type that is not UTF-8 shows as ""
	ops := []*syncpb.Op{
		objtree.Set("good", objtree.String("kept")),
		objtree.Set("nan", objtree.Number(math.NaN())),
		objtree.Set("inf", objtree.Number(math.Inf(-1))),
		objtree.Set("bad", objtree.String("a\xffb")),
		objtree.Set("list", objtree.List(objtree.Number(1), objtree.String("\xc3"))),
		objtree.Set("bad\xfe", objtree.Number(1)),
		objtree.Set("", objtree.Number(1)),
		objtree.Set("type", objtree.String("forged")),
		objtree.Set("id", objtree.String("forged")),
		objtree.Set("syncStatus", objtree.String("synced")),
		objtree.Set("modified", objtree.Number(1)),
		objtree.Set("$other", objtree.Number(1)),
		objtree.Set("$deleted", objtree.String("yes")),
		objtree.Set(strings.Repeat("k", maxKeySize+1), objtree.Number(1)),
		objtree.Set("deep", deep(objtree.Number(1), protocol.MaxValueDepth+1)),
		objtree.Set("deepOK", deep(objtree.Number(1), protocol.MaxValueDepth)),
		objtree.ListAdd("tags", deep(objtree.Number(1), protocol.MaxValueDepth)),
		objtree.ListAdd("tags", objtree.String("x")),
		objtree.Set("n", objtree.Number(2)),
	}
	first := w.change(t, obj, []crypto.ChangeID{crypto.ChangeID(obj)}, ops...)
	// A change whose sealed ops do not decode: dropped whole, nothing else.
	garbage := w.sealed(t, obj, []crypto.ChangeID{idOf(t, first)}, []byte{0xff, 0xff, 0xff})
	// And one after it that is fine: the object stays writable and readable.
	last := w.change(t, obj, []crypto.ChangeID{idOf(t, garbage)}, objtree.Set("after", objtree.Bool(true)))

	want := Details{
		"good": objtree.String("kept"), "deepOK": deep(objtree.Number(1), protocol.MaxValueDepth),
		"tags": objtree.List(objtree.String("x")), "n": objtree.Number(2), "after": objtree.Bool(true),
	}
	for _, sp := range []*Space{spA, spB} {
		missing, err := sp.ApplyRemote(c, obj, [][]byte{root, first, garbage, last}, nil)
		require.NoError(t, err)
		require.Empty(t, missing)
		got, err := sp.Get(c, obj)
		require.NoError(t, err)
		assert.Equal(t, "", got.Type)
		assert.Equal(t, want, got.Details)
		requireClean(t, got.Details)
		res, err := sp.Query(c, spaceindex.Query{})
		require.NoError(t, err)
		require.Equal(t, 1, res.Total)
		requireCleanRecord(t, res.Records[0])
		assert.Equal(t, spaceindex.String(""), res.Records[0].Details[keyType], "type is derived, never forged")
		assert.NotEqual(t, spaceindex.Number(1), res.Records[0].Details[keyModified])
		// The object is still writable here.
		require.NoError(t, sp.UpdateObject(c, obj, Details{"local": objtree.Number(1)}, nil))
	}
}

// TestLocalBadValuesAreRefused: the same rule refuses a local write, with an
// Invalid error, and writes nothing.
func TestLocalBadValuesAreRefused(t *testing.T) {
	c := ctx(t)
	e := newEnv(t)
	_, sp := homeSpace(t, e)
	obj, err := sp.CreateObject(c, "task", Details{"name": str("ok")})
	require.NoError(t, err)
	for name, d := range map[string]Details{
		"NaN":           {"n": num(math.NaN())},
		"infinity":      {"n": num(math.Inf(1))},
		"invalid UTF-8": {"s": str("\xff")},
		"key UTF-8":     {"k\xff": num(1)},
		"in a list":     {"l": objtree.List(num(math.NaN()))},
		"too deep":      {"d": deep(num(1), protocol.MaxValueDepth+1)},
		"type":          {"type": str("x")},
		"id":            {"id": str("x")},
		"syncStatus":    {"syncStatus": str("x")},
		"$deleted":      {"$deleted": objtree.Bool(true)},
	} {
		err := sp.UpdateObject(c, obj, d, nil)
		assert.True(t, errkind.Is(err, errkind.Invalid), "%s: %v", name, err)
		_, err = sp.CreateObject(c, "x", d)
		assert.True(t, errkind.Is(err, errkind.Invalid), "%s: %v", name, err)
	}
	_, err = sp.CreateObject(c, "t\xff", nil)
	assert.True(t, errkind.Is(err, errkind.Invalid), "%v", err)
	got, err := sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, Details{"name": str("ok")}, got.Details)
}

// opGen draws any op a hostile member might seal: keys and values from a
// small alphabet that includes every bad case.
func opGen() *rapid.Generator[*syncpb.Op] {
	keys := rapid.SampledFrom([]string{"a", "b", "name", "", "type", "id", "syncStatus", "created", "modified",
		"$deleted", "$x", "k\xff", strings.Repeat("k", maxKeySize+1)})
	var value func(depth int) *rapid.Generator[*syncpb.Value]
	value = func(depth int) *rapid.Generator[*syncpb.Value] {
		return rapid.Custom(func(t *rapid.T) *syncpb.Value {
			switch rapid.IntRange(0, 6).Draw(t, "kind") {
			case 0:
				return objtree.Null()
			case 1:
				return objtree.Bool(rapid.Bool().Draw(t, "b"))
			case 2:
				return objtree.Number(rapid.SampledFrom([]float64{0, -1, 1.5, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64}).Draw(t, "n"))
			case 3:
				return objtree.String(rapid.SampledFrom([]string{"", "x", "\xff", "a\xc3", "ok ✓"}).Draw(t, "s"))
			case 4:
				return deep(objtree.Number(1), rapid.IntRange(protocol.MaxValueDepth-1, protocol.MaxValueDepth+2).Draw(t, "depth"))
			case 5:
				return &syncpb.Value{}
			}
			if depth > 3 {
				return objtree.Null()
			}
			return objtree.List(rapid.SliceOfN(value(depth+1), 0, 3).Draw(t, "list")...)
		})
	}
	return rapid.Custom(func(t *rapid.T) *syncpb.Op {
		k := keys.Draw(t, "key")
		switch rapid.IntRange(0, 3).Draw(t, "op") {
		case 0:
			return objtree.Set(k, value(0).Draw(t, "v"))
		case 1:
			return objtree.Unset(k)
		case 2:
			return objtree.ListAdd(k, value(0).Draw(t, "v"))
		}
		return objtree.ListRemove(k, value(0).Draw(t, "v"))
	})
}

// TestRemoteChangesNeverBreakReads (property): whatever ops a member seals,
// in whatever chain of changes, get and query keep answering with clean
// values, and two devices applying the changes in different orders agree.
func TestRemoteChangesNeverBreakReads(t *testing.T) {
	c := ctx(t)
	a, spA, spB := sharedSpace(t, c)
	w := newWriter(t, c, spA, a.account)

	rapid.Check(t, func(rt *rapid.T) {
		obj, root := w.root(t, rapid.SampledFrom([]string{"task", "", "\xff", "note"}).Draw(rt, "type"))
		raws := [][]byte{root}
		parents := []crypto.ChangeID{crypto.ChangeID(obj)}
		for range rapid.IntRange(1, 4).Draw(rt, "changes") {
			var raw []byte
			if rapid.IntRange(0, 9).Draw(rt, "garbage") == 0 {
				raw = w.sealed(t, obj, parents, rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(rt, "plain"))
			} else {
				raw = w.change(t, obj, parents, rapid.SliceOfN(opGen(), 0, 6).Draw(rt, "ops")...)
			}
			raws = append(raws, raw)
			if rapid.Bool().Draw(rt, "sibling") {
				continue // the next change is a sibling of this one
			}
			parents = []crypto.ChangeID{idOf(t, raw)}
		}
		_, err := spA.ApplyRemote(c, obj, raws, nil)
		require.NoError(rt, err)
		rev := make([][]byte, 0, len(raws))
		for i := len(raws) - 1; i >= 0; i-- {
			rev = append(rev, raws[i])
		}
		_, err = spB.ApplyRemote(c, obj, rev, nil)
		require.NoError(rt, err)

		var got [2]Object
		for i, sp := range []*Space{spA, spB} {
			o, err := sp.Get(c, obj)
			if errkind.Is(err, errkind.NotFound) {
				continue // a valid "$deleted" = true deleted it
			}
			require.NoError(rt, err)
			requireClean(rt, o.Details)
			got[i] = o
			res, err := sp.Query(c, spaceindex.Query{Filter: spaceindex.Eq(spaceindex.KeyID, spaceindex.String(string(obj)))})
			require.NoError(rt, err)
			for _, r := range res.Records {
				requireCleanRecord(rt, r)
			}
			_, err = sp.Query(c, spaceindex.Query{Filter: spaceindex.FullText("x"), Sorts: []spaceindex.Sort{{Key: "a"}, {Key: "b", Desc: true}}})
			require.NoError(rt, err)
		}
		assert.Equal(rt, got[0].Details, got[1].Details, "every device drops the same ops")
	})
}

// FuzzRemoteOps: any ops a member can seal (the fuzzer's bytes decoded as
// ChangeOps; bytes that do not decode are sealed as they are) leave get and
// query answering with clean values.
func FuzzRemoteOps(f *testing.F) {
	good, _ := (&syncpb.ChangeOps{Ops: []*syncpb.Op{objtree.Set("a", objtree.Number(1))}}).Marshal()
	nan, _ := (&syncpb.ChangeOps{Ops: []*syncpb.Op{objtree.Set("n", objtree.Number(math.NaN())), objtree.Set("type", objtree.String("x"))}}).Marshal()
	utf, _ := (&syncpb.ChangeOps{Ops: []*syncpb.Op{objtree.ListAdd("\xff", objtree.String("\xfe"))}}).Marshal()
	f.Add(good)
	f.Add(nan)
	f.Add(utf)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Add([]byte{0xff})
	e := newEnv(f)
	c := ctx(f)
	id, err := e.svc.Create(c, "Home")
	require.NoError(f, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(f, err)
	w := newWriter(f, c, sp, e.account)
	f.Fuzz(func(t *testing.T, plain []byte) {
		obj, root := w.root(t, "fuzz")
		raw := w.sealed(t, obj, []crypto.ChangeID{crypto.ChangeID(obj)}, plain)
		if _, err := sp.ApplyRemote(c, obj, [][]byte{root, raw}, nil); err != nil {
			t.Fatalf("apply: %v", err)
		}
		o, err := sp.Get(c, obj)
		if errkind.Is(err, errkind.NotFound) {
			return
		}
		require.NoError(t, err)
		requireClean(t, o.Details)
		res, err := sp.Query(c, spaceindex.Query{Filter: spaceindex.Eq(spaceindex.KeyID, spaceindex.String(string(obj)))})
		require.NoError(t, err)
		for _, r := range res.Records {
			requireCleanRecord(t, r)
		}
	})
}
