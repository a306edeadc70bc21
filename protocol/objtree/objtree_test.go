package objtree

import (
	"bytes"
	"slices"
	"testing"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
	"pgregory.net/rapid"
)

func mkTree(t testing.TB, e *env, author string) *Tree {
	root := e.verify(e.builder(author).Root(e.st.Head(), e.st.ReadKeyID(), "page", e.tick()))
	tr, err := New(root, e.st)
	require.NoError(t, err)
	return tr
}

func TestTreeBasics(t *testing.T) {
	e := newEnv(t)
	e.join("bob", acl.RoleWriter)
	tr := mkTree(t, e, "owner")
	require.Equal(t, crypto.ObjectID(tr.Root().ID), tr.ID())
	b := e.builder("bob")
	c1 := e.verify(b.Change(tr.ID(), tr.Heads(), e.st.Head(), e.readKey, []*syncpb.Op{Set("name", String("a")), ListAdd("tags", String("x"))}, e.tick()))
	c2 := e.verify(b.Change(tr.ID(), []crypto.ChangeID{c1.ID}, e.st.Head(), e.readKey, []*syncpb.Op{Set("name", String("b")), ListAdd("tags", Number(2)), ListAdd("tags", String("x"))}, e.tick()))
	c3 := e.verify(b.Change(tr.ID(), []crypto.ChangeID{c2.ID}, e.st.Head(), e.readKey, []*syncpb.Op{ListRemove("tags", String("x")), Set("done", Bool(true)), Set("n", Null()), Unset("name")}, e.tick()))

	up, err := tr.Add(e.st, c3)
	require.NoError(t, err)
	require.Len(t, up.Waiting, 1)
	require.Equal(t, []crypto.ChangeID{c2.ID}, up.Missing)
	require.Equal(t, []crypto.ChangeID{tr.Root().ID}, up.Heads)
	up, err = tr.Add(e.st, c2)
	require.NoError(t, err)
	require.Equal(t, []crypto.ChangeID{c1.ID}, up.Missing)
	up, err = tr.Add(e.st, c1)
	require.NoError(t, err)
	require.Len(t, up.Added, 3)
	require.Len(t, up.Waiting, 0)
	require.Len(t, up.Missing, 0)
	require.Equal(t, []crypto.ChangeID{c3.ID}, tr.Heads())
	require.Equal(t, []crypto.ChangeID{tr.Root().ID, c1.ID, c2.ID, c3.ID}, tr.Order())

	st, err := tr.State(e.keysOf("bob"))
	require.NoError(t, err)
	require.Equal(t, []string{"done", "n", "tags"}, st.Keys())
	tags, _ := st.Get("tags")
	require.Len(t, tags.GetList().Values, 1)
	require.Equal(t, 2.0, tags.GetList().Values[0].GetNumber())

	require.Len(t, tr.Since([]crypto.ChangeID{c1.ID}), 2)
	require.Len(t, tr.Since(nil), 4)
	require.Len(t, tr.Since(tr.Heads()), 0)
	require.NotEqual(t, HeadsHash(nil), tr.HeadsHash())
	require.Equal(t, HeadsHash([]crypto.ChangeID{"b", "a"}), HeadsHash([]crypto.ChangeID{"a", "b"}))

	// Idempotent.
	up, err = tr.Add(e.st, c1, c2, c3, tr.Root())
	require.NoError(t, err)
	require.Len(t, up.Added, 0)
}

func TestAclRules(t *testing.T) {
	e := newEnv(t)
	e.join("bob", acl.RoleWriter)
	e.join("carol", acl.RoleReader)
	e.join("dave", acl.RoleWriter)
	tr := mkTree(t, e, "owner")
	headBefore, keyBefore := e.st.Head(), e.readKey

	// A reader cannot write, neither a root nor a change.
	_, err := New(e.verify(e.builder("carol").Root(e.st.Head(), e.st.ReadKeyID(), "", e.tick())), e.st)
	require.ErrorIs(t, err, ErrPermission)
	rc := e.verify(e.builder("carol").Change(tr.ID(), tr.Heads(), e.st.Head(), e.readKey, []*syncpb.Op{Set("x", Bool(true))}, e.tick()))
	_, err = tr.Add(e.st, rc)
	require.ErrorIs(t, err, ErrPermission)

	// Bob writes before his removal; the change is delivered after it.
	pre := e.verify(e.builder("bob").Change(tr.ID(), tr.Heads(), headBefore, keyBefore, []*syncpb.Op{Set("by", String("bob"))}, e.tick()))
	okc := e.verify(e.builder("dave").Change(tr.ID(), tr.Heads(), headBefore, keyBefore, []*syncpb.Op{Set("by", String("dave"))}, e.tick()))
	_, err = tr.Add(e.st, okc)
	require.NoError(t, err)
	bobKeysBefore := e.keysOf("bob")
	e.remove("bob")

	// A removed writer's back-dated change (made "under" the old head) is rejected, and so
	// is its real pre-removal change while no valid change builds on it.
	back := e.verify(e.builder("bob").Change(tr.ID(), tr.Heads(), headBefore, keyBefore, []*syncpb.Op{Set("by", String("bob again"))}, e.tick()))
	up, err := tr.Add(e.st, back)
	require.ErrorIs(t, err, ErrPartial)
	require.ErrorIs(t, err, ErrPermission)
	require.Len(t, up.Rejected, 1)
	require.ErrorIs(t, up.Rejected[0].Err, ErrPermission)
	require.False(t, tr.Has(back.ID))
	up, err = tr.Add(e.st, pre)
	require.ErrorIs(t, err, ErrPartial)
	require.Len(t, up.Rejected, 1)
	require.False(t, tr.Has(pre.ID))
	// A batch keeps its valid changes and leaves the unvouched one out.
	post := e.verify(e.builder("dave").Change(tr.ID(), tr.Heads(), e.st.Head(), e.readKey, []*syncpb.Op{Set("secret", String("after kick"))}, e.tick()))
	up, err = tr.Add(e.st, post, back)
	require.ErrorIs(t, err, ErrPartial)
	require.Len(t, up.Added, 1)
	require.Len(t, up.Rejected, 1)
	require.Equal(t, back.ID, up.Rejected[0].ID)
	require.True(t, tr.Has(post.ID))
	// Bob's pre-removal change is history once a valid writer builds on it (dave had got it
	// before the removal): it arrives with its voucher and is accepted.
	vouch := e.verify(e.builder("dave").Change(tr.ID(), []crypto.ChangeID{pre.ID, post.ID}, e.st.Head(), e.readKey, nil, e.tick()))
	up, err = tr.Add(e.st, vouch, pre)
	require.NoError(t, err)
	require.Len(t, up.Rejected, 0)
	require.True(t, tr.Has(pre.ID))
	require.True(t, tr.Has(vouch.ID))
	// The back-dated change cannot be vouched by a descendant of its own author.
	back2 := e.verify(e.builder("bob").Change(tr.ID(), []crypto.ChangeID{back.ID}, headBefore, keyBefore, nil, e.tick()))
	up, err = tr.Add(e.st, back, back2)
	require.ErrorIs(t, err, ErrPartial)
	require.Len(t, up.Rejected, 2)
	// A hard failure (a reader's change) fails the whole batch.
	_, err = tr.Add(e.st, rc, back)
	require.ErrorIs(t, err, ErrPermission)

	// Restore rebuilds from storage without ACL checks.
	var stored []Change
	for _, id := range tr.Order()[1:] {
		c, _ := tr.Get(id)
		stored = append(stored, c)
	}
	slices.Reverse(stored)
	rt, err := Restore(tr.Root(), stored...)
	require.NoError(t, err)
	require.Equal(t, tr.Heads(), rt.Heads())
	require.Equal(t, tr.Order(), rt.Order())

	// The kicked member decrypts what was made before its removal, nothing after.
	bobKeysAfter, err := acl.ReadKeys(e.st, e.key("bob"), key(t, "invite:bob"))
	require.NoError(t, err)
	require.Equal(t, len(bobKeysBefore), len(bobKeysAfter))
	_, err = DecryptOps(okc, bobKeysAfter)
	require.NoError(t, err)
	_, err = DecryptOps(post, bobKeysAfter)
	require.ErrorIs(t, err, ErrNoKey)
	_, err = tr.State(bobKeysAfter)
	require.ErrorIs(t, err, ErrNoKey)
	st, err := tr.State(e.keysOf("carol"))
	require.NoError(t, err)
	v, _ := st.Get("secret")
	require.Equal(t, "after kick", v.GetString_())

	// Wrong key id for the ACL head, unknown ACL head, wrong object.
	wrongKey := e.verify(e.builder("dave").Change(tr.ID(), tr.Heads(), headBefore, e.readKey, nil, e.tick()))
	_, err = tr.Add(e.st, wrongKey)
	require.ErrorIs(t, err, ErrInvalid)
	unknown := e.verify(e.builder("dave").Change(tr.ID(), tr.Heads(), crypto.RecordID(crypto.Sum([]byte("?"))), e.readKey, nil, e.tick()))
	_, err = tr.Add(e.st, unknown)
	require.ErrorIs(t, err, ErrAclBehind)
	other := e.verify(e.builder("dave").Change(crypto.ObjectID(crypto.Sum([]byte("o"))), tr.Heads(), e.st.Head(), e.readKey, nil, e.tick()))
	_, err = tr.Add(e.st, other)
	require.ErrorIs(t, err, ErrInvalid)
}

// genOps draws a few ops over a small key set, so writers conflict often.
func genOps(t *rapid.T) []*syncpb.Op {
	keys := []string{"a", "b", "l"}
	n := rapid.IntRange(0, 3).Draw(t, "nops")
	ops := make([]*syncpb.Op, 0, n)
	for i := 0; i < n; i++ {
		k := rapid.SampledFrom(keys).Draw(t, "key")
		v := rapid.OneOf(
			rapid.Just(Null()),
			rapid.Map(rapid.Bool(), Bool),
			rapid.Map(rapid.IntRange(-3, 3), func(i int) *syncpb.Value { return Number(float64(i)) }),
			rapid.Map(rapid.SampledFrom([]string{"x", "y"}), String),
		).Draw(t, "value")
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			ops = append(ops, Set(k, v))
		case 1:
			ops = append(ops, Unset(k))
		case 2:
			ops = append(ops, ListAdd(k, v))
		case 3:
			ops = append(ops, ListRemove(k, v))
		}
	}
	return ops
}

// TestPropertyOrderExtends: the order a tree keeps while it grows — extended
// in place when a change builds on every head, recomputed otherwise — is the
// order of the same changes restored from scratch, after every change.
func TestPropertyOrderExtends(t *testing.T) {
	e := newEnv(t)
	b := Builder{Space: e.space, Author: e.key("owner")}
	rapid.Check(t, func(rt *rapid.T) {
		root, err := verifyRT(rt)(b.Root(e.st.Head(), e.st.ReadKeyID(), "", 1))
		if err != nil {
			rt.Fatal(err)
		}
		tr, err := New(root, e.st)
		if err != nil {
			rt.Fatal(err)
		}
		ids := []crypto.ChangeID{root.ID}
		var all, held []Change
		n := rapid.IntRange(1, 24).Draw(rt, "n")
		for i := range n {
			ps := tr.Heads() // the local write: on every head
			if rapid.IntRange(0, 2).Draw(rt, "shape") == 0 {
				ps = nil // a concurrent change: on a few earlier ones
				for _, j := range rapid.SliceOfNDistinct(rapid.IntRange(0, len(ids)-1), 1, 3, rapid.ID[int]).Draw(rt, "parents") {
					ps = append(ps, ids[j])
				}
			}
			c, err := verifyRT(rt)(b.Change(root.Object, ps, e.st.Head(), e.readKey, nil, int64(i+2)))
			if err != nil {
				rt.Fatal(err)
			}
			ids = append(ids, c.ID)
			all = append(all, c)
			if rapid.IntRange(0, 4).Draw(rt, "hold") == 0 {
				held = append(held, c) // arrives later, after its descendants
				continue
			}
			batch := append([]Change{c}, held...)
			if rapid.Bool().Draw(rt, "deliver held") {
				held = nil
			} else {
				batch = batch[:1]
			}
			if _, err := tr.Add(e.st, batch...); err != nil {
				rt.Fatal(err)
			}
			var attached []Change
			for _, c := range all {
				if tr.Has(c.ID) {
					attached = append(attached, c)
				}
			}
			fresh, err := Restore(root, attached...)
			if err != nil {
				rt.Fatal(err)
			}
			if got, want := tr.Order(), fresh.Order(); !slices.Equal(got, want) {
				rt.Fatalf("after change %d the kept order is %v, restored %v", i, got, want)
			}
		}
	})
}

// TestPropertyDeliveryOrder: any delivery order (and batching) of the same set of changes
// gives byte-identical state, heads and order.
func TestPropertyDeliveryOrder(t *testing.T) {
	e := newEnv(t)
	e.join("bob", acl.RoleWriter)
	keys := e.keysOf("owner")
	authors := []Builder{{Space: e.space, Author: e.key("owner")}, {Space: e.space, Author: e.key("bob")}}
	rapid.Check(t, func(rt *rapid.T) {
		root, err := verifyRT(rt)(authors[0].Root(e.st.Head(), e.st.ReadKeyID(), "", 1))
		if err != nil {
			rt.Fatal(err)
		}
		ids := []crypto.ChangeID{root.ID}
		var all []Change
		n := rapid.IntRange(1, 16).Draw(rt, "n")
		for i := 0; i < n; i++ {
			idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(ids)-1), 1, 3, rapid.ID[int]).Draw(rt, "parents")
			var ps []crypto.ChangeID
			for _, j := range idx {
				ps = append(ps, ids[j])
			}
			b := authors[rapid.IntRange(0, 1).Draw(rt, "author")]
			c, err := verifyRT(rt)(b.Change(root.Object, ps, e.st.Head(), e.readKey, genOps(rt), int64(i)))
			if err != nil {
				rt.Fatal(err)
			}
			ids = append(ids, c.ID)
			all = append(all, c)
		}
		replay := func(cs []Change, batch int) ([]byte, []crypto.ChangeID, []crypto.ChangeID) {
			tr, err := New(root, e.st)
			if err != nil {
				rt.Fatal(err)
			}
			for len(cs) > 0 {
				k := min(batch, len(cs))
				if _, err := tr.Add(e.st, cs[:k]...); err != nil {
					rt.Fatal(err)
				}
				cs = cs[k:]
			}
			if tr.Len() != n+1 || len(tr.Missing()) != 0 {
				rt.Fatalf("tree has %d changes, %d missing", tr.Len(), len(tr.Missing()))
			}
			st, err := tr.State(keys)
			if err != nil {
				rt.Fatal(err)
			}
			return st.Marshal(), tr.Heads(), tr.Order()
		}
		s1, h1, o1 := replay(all, 1)
		perm := rapid.Permutation(all).Draw(rt, "perm")
		s2, h2, o2 := replay(perm, rapid.IntRange(1, 4).Draw(rt, "batch"))
		if !bytes.Equal(s1, s2) {
			rt.Fatalf("states differ")
		}
		if HeadsHash(h1) != HeadsHash(h2) || len(o1) != len(o2) {
			rt.Fatalf("heads differ: %v vs %v", h1, h2)
		}
		for i := range o1 {
			if o1[i] != o2[i] {
				rt.Fatalf("order differs at %d", i)
			}
		}
	})
}

// TestPropertyConcurrentWriters: two replicas with different writers, writing on their own
// heads and syncing now and then, converge once they have exchanged everything.
func TestPropertyConcurrentWriters(t *testing.T) {
	e := newEnv(t)
	e.join("bob", acl.RoleWriter)
	keys := e.keysOf("owner")
	writers := []Builder{{Space: e.space, Author: e.key("owner")}, {Space: e.space, Author: e.key("bob")}}
	rapid.Check(t, func(rt *rapid.T) {
		root, err := verifyRT(rt)(writers[0].Root(e.st.Head(), e.st.ReadKeyID(), "", 1))
		if err != nil {
			rt.Fatal(err)
		}
		var trees [2]*Tree
		for i := range trees {
			if trees[i], err = New(root, e.st); err != nil {
				rt.Fatal(err)
			}
		}
		sync := func(from, to int) {
			if _, err := trees[to].Add(e.st, trees[from].Since(trees[to].Heads())...); err != nil {
				rt.Fatal(err)
			}
		}
		steps := rapid.IntRange(1, 20).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			w := rapid.IntRange(0, 1).Draw(rt, "replica")
			if rapid.IntRange(0, 3).Draw(rt, "action") == 0 {
				sync(w, 1-w)
				continue
			}
			tr := trees[w]
			c, err := verifyRT(rt)(writers[w].Change(tr.ID(), tr.Heads(), e.st.Head(), e.readKey, genOps(rt), int64(i)))
			if err != nil {
				rt.Fatal(err)
			}
			if _, err := tr.Add(e.st, c); err != nil {
				rt.Fatal(err)
			}
		}
		sync(0, 1)
		sync(1, 0)
		s0, err := trees[0].State(keys)
		if err != nil {
			rt.Fatal(err)
		}
		s1, err := trees[1].State(keys)
		if err != nil {
			rt.Fatal(err)
		}
		if !bytes.Equal(s0.Marshal(), s1.Marshal()) || trees[0].HeadsHash() != trees[1].HeadsHash() {
			rt.Fatalf("replicas diverged")
		}
	})
}

func TestGolden(t *testing.T) {
	e := newEnv(t)
	tr := mkTree(t, e, "owner")
	c := e.verify(e.builder("owner").Change(tr.ID(), tr.Heads(), e.st.Head(), e.readKey,
		[]*syncpb.Op{Set("s", String("v")), Set("n", Number(1.5)), Set("b", Bool(true)), Set("z", Null()),
			Set("l", List(String("a"), List(Number(1)))), Unset("u"), ListAdd("l", String("b")), ListRemove("l", String("a"))}, e.tick()))
	_, err := tr.Add(e.st, c)
	require.NoError(t, err)
	st, err := tr.State(e.keysOf("owner"))
	require.NoError(t, err)
	golden.Check(t, "changes", map[string][]byte{
		"root":       tr.Root().Raw,
		"change":     c.Raw,
		"change_id":  []byte(c.ID),
		"state":      st.Marshal(),
		"heads_hash": []byte(tr.HeadsHash()),
	})
}

func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	tr := mkTree(f, e, "owner")
	c := e.verify(e.builder("owner").Change(tr.ID(), tr.Heads(), e.st.Head(), e.readKey, []*syncpb.Op{Set("a", Bool(true))}, 2))
	f.Add(tr.Root().Raw)
	f.Add(c.Raw)
	keys := e.keysOf("owner")
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := Verify(b); err == nil {
			if c.Object == tr.ID() {
				_, _ = tr.Add(e.st, c)
			}
			_, _ = DecryptOps(c, keys)
		}
	})
}

func FuzzDecodeOps(f *testing.F) {
	b, _ := (&syncpb.ChangeOps{Ops: []*syncpb.Op{Set("l", List(List(Number(1)), Null())), ListRemove("l", Null())}}).Marshal()
	f.Add(b)
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeOps(b)
		if err == nil {
			s := NewState()
			s.Apply(ops)
			_ = s.Marshal()
		}
	})
}

func BenchmarkChangeVerifyApply(b *testing.B) {
	e := newEnv(b)
	tr := mkTree(b, e, "owner")
	bl := Builder{Space: e.space, Author: e.key("owner")}
	const n = 1000
	raws := make([][]byte, n)
	heads := tr.Heads()
	for i := range raws {
		raw, err := bl.Change(tr.ID(), heads, e.st.Head(), e.readKey, []*syncpb.Op{Set("k", Number(float64(i))), ListAdd("l", String("x"))}, int64(i))
		if err != nil {
			b.Fatal(err)
		}
		c, _ := Verify(raw)
		heads = []crypto.ChangeID{c.ID}
		raws[i] = raw
	}
	keys := e.keysOf("owner")
	b.ResetTimer()
	for b.Loop() {
		t2, err := New(tr.Root(), e.st)
		if err != nil {
			b.Fatal(err)
		}
		for _, raw := range raws {
			c, err := Verify(raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := t2.Add(e.st, c); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := t2.State(keys); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
}

func verifyRT(rt *rapid.T) func([]byte, error) (Change, error) {
	return func(raw []byte, err error) (Change, error) {
		if err != nil {
			return Change{}, err
		}
		return Verify(raw)
	}
}

func TestGoldenDecodes(t *testing.T) {
	e := newEnv(t)
	g := golden.Load(t, "changes")
	root, err := Verify(g["root"])
	require.NoError(t, err)
	c, err := Verify(g["change"])
	require.NoError(t, err)
	require.Equal(t, string(g["change_id"]), string(c.ID))
	tr, err := New(root, e.st)
	require.NoError(t, err)
	_, err = tr.Add(e.st, c)
	require.NoError(t, err)
	st, err := tr.State(e.keysOf("owner"))
	require.NoError(t, err)
	require.Equal(t, g["state"], st.Marshal())
	require.Equal(t, string(g["heads_hash"]), tr.HeadsHash())
}

// TestDecodeStoredSkipsOnlyTheSignature: DecodeStored gives what Verify
// gives for a good change, accepts a bad signature (it is for bytes already
// verified), and still refuses bytes that are not a well-formed change.
func TestDecodeStoredSkipsOnlyTheSignature(t *testing.T) {
	e := newEnv(t)
	tr := mkTree(t, e, "owner")
	raw := tr.Root().Raw
	want, err := Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeStored(raw)
	if err != nil || got.ID != want.ID || got.Author != want.Author || got.Timestamp != want.Timestamp {
		t.Fatalf("DecodeStored = %+v, %v; Verify = %+v", got, err, want)
	}
	var env syncpb.Signed
	if err := env.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	env.Signature[0] ^= 1
	forged, _ := env.Marshal()
	if _, err := Verify(forged); err == nil {
		t.Fatal("Verify accepted a bad signature")
	}
	if c, err := DecodeStored(forged); err != nil || c.ID != want.ID {
		t.Fatalf("DecodeStored of a stored change with a damaged signature: %v", err)
	}
	if _, err := DecodeStored(raw[:len(raw)/2]); err == nil {
		t.Fatal("DecodeStored accepted truncated bytes")
	}
}

func FuzzDecodeStored(f *testing.F) {
	e := newEnv(f)
	tr := mkTree(f, e, "owner")
	f.Add(tr.Root().Raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := DecodeStored(b); err == nil {
			_, _ = DecryptOps(c, e.keysOf("owner"))
		}
	})
}
