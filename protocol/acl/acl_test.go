package acl

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
	"github.com/hearth-sync/hearth/protocol/internal/require"
)

// TestScenarios runs ACL scenarios in a tiny DSL, one step per line:
//
//	<actor> <verb> args...   build, countersign, verify and apply a record
//	<actor> stale <verb> ... the same, built on the state before the head (prev != head)
//	check <name> <role>      assert a role
//	keys <name> <n|old|none> how many read keys name decrypts (old: not the current one)
//	replay                   apply the last accepted record again
//	... ! <kind>             the step must fail with ErrInvalid/Conflict/Replay/Permission/Sequence
func TestScenarios(t *testing.T) {
	tests := map[string]string{
		"join without approval": `
			owner root
			owner invite i1 writer auto
			bob join i1
			check bob writer
			keys bob 1`,
		"join with approval, accept and decline": `
			owner root
			owner invite i1 reader approve
			carol join i1
			check carol none
			keys carol none
			owner accept carol writer
			check carol writer
			keys carol 1
			dave join i1
			owner decline dave
			check dave none
			owner accept dave reader ! invalid`,
		"kick rotates the key; kicked member gets no new keys": `
			owner root
			owner invite i1 writer auto
			bob join i1
			owner invite i2 reader auto
			carol join i2
			owner rotate
			keys bob 2
			owner remove bob
			check bob none
			keys bob old
			keys carol 3
			owner rotate
			keys bob old
			keys carol 4`,
		"a kick closes every open invite (issue 16.1)": `
			owner root
			owner invite i1 writer auto
			owner invite i2 reader auto    # another open link, shared in the same chat
			owner invite i3 writer approve
			bob join i1
			knows bob i2
			knows bob i3
			carol join i2
			keys bob 1
			owner remove bob
			open 0
			check bob none
			keys bob old                   # i2's key opens no grant of the new key
			keys carol 2
			mallory join i2 ! permission   # a fresh identity cannot rejoin through i2 ...
			mallory join i3 ! permission   # ... nor ask through i3
			bob join i2 ! permission
			owner rotate
			keys bob old
			owner invite i4 reader auto
			dave join i4
			keys dave 3`,
		"a legacy remove still folds (stored chains)": `
			owner root
			owner invite i1 writer auto
			owner invite i2 reader auto
			bob join i1
			owner legacyremove bob
			open 1
			keys carol none
			carol join i2
			keys carol 2`,
		"removed identity cannot rejoin through an older invite": `
			owner root
			owner invite i1 writer approve
			owner invite i2 writer auto
			bob join i2
			owner remove bob
			bob join i1 ! permission
			bob join i2 ! permission
			owner invite i3 writer auto
			bob join i3
			check bob writer`,
		"non-admin cannot manage": `
			owner root
			owner invite i1 writer auto
			bob join i1
			carol join i1
			bob remove carol ! permission
			bob setrole carol reader ! permission
			bob invite i2 reader auto ! permission
			bob rotate ! permission
			bob revoke i1 ! permission
			owner setrole bob admin
			bob remove carol
			bob setrole owner reader ! permission
			bob remove owner ! permission`,
		"admin limits": `
			owner root
			owner invite i1 admin auto
			alice join i1
			owner invite i2 writer auto
			bob join i2
			alice setrole bob admin ! permission
			alice invite i3 admin auto ! permission
			alice setrole bob reader
			check bob reader
			owner setrole alice writer
			alice remove bob ! permission`,
		"forged, replayed and stale records": `
			owner root
			owner invite i1 writer auto
			bob join i1
			owner forge bob ! invalid
			replay ! replay
			owner stale setrole bob reader ! conflict
			check bob writer`,
		"leave and revoke": `
			owner root
			owner invite i1 writer approve
			bob join i1
			owner revoke i1
			owner accept bob writer ! invalid
			owner invite i2 writer auto
			carol join i2
			carol leave
			check carol none
			owner rotate
			keys carol old
			dave join i2 ! permission
			owner leave ! permission
			carol leave ! invalid`,
		"root rules": `
			bob root ! permission
			owner root
			owner root ! conflict`,
	}
	for name, script := range tests {
		t.Run(name, func(t *testing.T) { newHarness(t).run(script) })
	}
}

func TestWrongNodeAndSequence(t *testing.T) {
	h := newHarness(t)
	h.run("owner root")
	raw, err := h.builder("owner").RotateKey(h.st, h.readKey, h.newReadKey(), 9)
	require.NoError(t, err)
	rec, err := VerifyAuthor(raw)
	require.NoError(t, err)
	other := testKey(t, "other node")
	vr, err := Countersign(other, rec, 2)
	require.NoError(t, err)
	_, err = Verify(vr.Accepted, h.node.Public())
	require.ErrorIs(t, err, ErrInvalid)
	vr, err = Countersign(h.node, rec, 5)
	require.NoError(t, err)
	vr, err = Verify(vr.Accepted, h.node.Public())
	require.NoError(t, err)
	_, err = h.st.Apply(vr)
	require.ErrorIs(t, err, ErrSequence)
	// Applying to another space's state fails.
	_, err = New("x", h.key("owner").Public()).Apply(vr)
	require.ErrorIs(t, err, ErrInvalid)
}

// TestStateIsValue checks that Apply never changes its receiver, even when two different
// records are applied to the same state (the shared history forks).
func TestStateIsValue(t *testing.T) {
	h := newHarness(t)
	h.run("owner root\nowner invite i1 writer auto\nbob join i1")
	base := h.st
	mk := func(role Role) VerifiedRecord {
		raw, err := h.builder("owner").SetRole(base, h.key("bob").Public(), role, 100+int64(role))
		require.NoError(t, err)
		rec, err := VerifyAuthor(raw)
		require.NoError(t, err)
		vr, err := Countersign(h.node, rec, base.Seq()+1)
		require.NoError(t, err)
		return vr
	}
	a, err := base.Apply(mk(RoleReader))
	require.NoError(t, err)
	b, err := base.Apply(mk(RoleAdmin))
	require.NoError(t, err)
	bob := h.key("bob").Public()
	require.Equal(t, RoleWriter, base.Role(bob))
	require.Equal(t, RoleReader, a.Role(bob))
	require.Equal(t, RoleAdmin, b.Role(bob))
	ra, err := a.RoleAt(a.Head(), bob)
	require.NoError(t, err)
	rb, err := b.RoleAt(b.Head(), bob)
	require.NoError(t, err)
	require.Equal(t, RoleReader, ra)
	require.Equal(t, RoleAdmin, rb)
	_, err = base.RoleAt(a.Head(), bob)
	require.ErrorIs(t, err, ErrInvalid)
	rw, err := b.RoleAt(base.Head(), bob)
	require.NoError(t, err)
	require.Equal(t, RoleWriter, rw)
}

// TestGolden pins the record formats: author envelopes and countersigned envelopes of every
// operation, built from fixed keys and fixed sealing randomness.
func TestGolden(t *testing.T) {
	h := newHarness(t)
	script := []string{
		"owner root", "owner invite i1 writer auto", "bob join i1", "owner invite i2 reader approve",
		"carol join i2", "owner accept carol reader", "dave join i2", "owner decline dave",
		"owner setrole bob admin", "owner rotate", "owner revoke i2", "owner invite i3 writer auto",
		"owner remove carol", "bob leave",
	}
	vec := map[string][]byte{}
	for i, line := range script {
		h.run(line)
		vec[fmtName(i, line)] = h.last
	}
	golden.Check(t, "records", vec)
}

func fmtName(i int, line string) string {
	b := []byte(line)
	for j := range b {
		if b[j] == ' ' {
			b[j] = '_'
		}
	}
	return string(rune('a'+i)) + "_" + string(b)
}

func FuzzVerify(f *testing.F) {
	h := newHarness(f)
	for _, l := range []string{"owner root", "owner invite i1 writer auto", "bob join i1", "owner remove bob"} {
		h.run(l)
		f.Add(h.last)
	}
	node := h.node.Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		if vr, err := Verify(b, node); err == nil {
			_, _ = New(vr.Space, vr.Author).Apply(vr)
		}
		if rec, err := VerifyAuthor(b); err == nil {
			_, _ = New(rec.Space, rec.Author).Apply(VerifiedRecord{Record: rec, Seq: 1})
		}
	})
}

func BenchmarkAclApply(b *testing.B) {
	h := newHarness(b)
	h.run("owner root\nowner invite i1 writer auto\nbob join i1")
	base := h.st
	bob := h.key("bob").Public()
	var recs []VerifiedRecord
	st := base
	for i := 0; i < 64; i++ {
		raw, _ := Builder{Author: h.key("owner")}.SetRole(st, bob, RoleReader+Role(i%2), int64(i))
		rec, _ := VerifyAuthor(raw)
		vr, _ := Countersign(h.node, rec, st.Seq()+1)
		var err error
		if st, err = st.Apply(vr); err != nil {
			b.Fatal(err)
		}
		recs = append(recs, vr)
	}
	b.Run("apply-only", func(b *testing.B) {
		for b.Loop() {
			st := base
			for _, r := range recs {
				var err error
				if st, err = st.Apply(r); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	})
	b.Run("verify-apply", func(b *testing.B) {
		benchVerifyApply(b, base, recs, h.node.Public())
	})
}

func benchVerifyApply(b *testing.B, base State, recs []VerifiedRecord, node crypto.PubKey) {
	for b.Loop() {
		st := base
		for _, r := range recs {
			vr, err := Verify(r.Accepted, node)
			if err != nil {
				b.Fatal(err)
			}
			if st, err = st.Apply(vr); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func TestAcceptAndReplay(t *testing.T) {
	h := newHarness(t)
	h.run("owner root\nowner invite i1 writer auto\nbob join i1")
	var accepted [][]byte
	// Rebuild the chain through Accept (node side) and Replay (client side).
	node := New(h.space, h.key("owner").Public())
	client := node
	raw, err := Builder{Author: h.key("owner")}.Root(h.space, h.readKey, 1)
	require.NoError(t, err)
	node, vr, err := Accept(node, h.node, raw)
	require.NoError(t, err)
	accepted = append(accepted, vr.Accepted)
	raw, err = Builder{Author: h.key("owner")}.RotateKey(node, h.readKey, h.newReadKey(), 2)
	require.NoError(t, err)
	node, vr, err = Accept(node, h.node, raw)
	require.NoError(t, err)
	accepted = append(accepted, vr.Accepted)
	_, _, err = Accept(node, h.node, raw)
	require.ErrorIs(t, err, ErrReplay)
	client, err = Replay(client, h.node.Public(), accepted)
	require.NoError(t, err)
	require.Equal(t, node.Head(), client.Head())
	require.Equal(t, node.ReadKeyID(), client.ReadKeyID())
	same, err := Replay(client, h.node.Public(), accepted[:1])
	require.ErrorIs(t, err, ErrReplay)
	require.Equal(t, client.Head(), same.Head())
}

// TestGoldenDecodes replays the checked-in records (in name order) through Verify and
// Apply and checks the read keys still decrypt for the members. records_v1 is a chain
// made before AclRemove.closes_invites and names: stored chains like it must still fold.
func TestGoldenDecodes(t *testing.T) {
	for _, name := range []string{"records", "records_v1"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			g := golden.Load(t, name)
			names := make([]string, 0, len(g))
			for k := range g {
				names = append(names, k)
			}
			slices.Sort(names)
			var recs [][]byte
			for _, k := range names {
				recs = append(recs, g[k])
			}
			st, err := Replay(New(h.space, h.key("owner").Public()), h.node.Public(), recs)
			require.NoError(t, err)
			require.Equal(t, uint64(len(recs)), st.Seq())
			ks, err := ReadKeys(st, h.key("owner"))
			require.NoError(t, err)
			require.Len(t, ks, 3)
			require.Equal(t, RoleNone, st.Role(h.key("carol").Public()))
		})
	}
}

// TestAcceptRefusesLegacyRemove: the acceptor takes only Removes that close every open
// invite, though the fold still reads the old form.
func TestAcceptRefusesLegacyRemove(t *testing.T) {
	h := newHarness(t)
	h.run("owner root\nowner invite i1 writer auto\nowner invite i2 reader auto\nbob join i1")
	legacy, err := h.builder("owner").legacyRemove(h.st, []crypto.PubKey{h.key("bob").Public()}, h.readKey, h.newReadKey(), 50)
	require.NoError(t, err)
	_, _, err = Accept(h.st, h.node, legacy)
	require.ErrorIs(t, err, ErrPermission)
	current, err := h.builder("owner").Remove(h.st, []crypto.PubKey{h.key("bob").Public()}, h.readKey, h.newReadKey(), 51)
	require.NoError(t, err)
	next, _, err := Accept(h.st, h.node, current)
	require.NoError(t, err)
	require.Len(t, next.Invites(), 0)
}

// TestNames: display names travel in invites and join requests, bounded and UTF-8.
func TestNames(t *testing.T) {
	h := newHarness(t)
	h.run("owner root\nowner invite i1 writer auto")
	rec, err := Verify(h.last, h.node.Public())
	require.NoError(t, err)
	require.Equal(t, "owner", rec.Body.GetInvite().AuthorName)
	inv := h.st.Invites()[0]
	require.Equal(t, h.key("owner").Public(), inv.Creator)
	require.Equal(t, h.ts, inv.Created)
	for _, bad := range []string{strings.Repeat("x", 257), "bad \xff utf-8"} {
		b := h.builder("bob")
		b.Name = bad
		_, err := b.JoinRequest(h.st, h.invites["i1"], h.inviteK["i1"], 9)
		require.ErrorIs(t, err, ErrInvalid)
	}
	h.run("bob join i1")
	rec, err = Verify(h.last, h.node.Public())
	require.NoError(t, err)
	require.Equal(t, "bob", rec.Body.GetJoinRequest().Name)
}

// BenchmarkRemoveWithOpenInvites: a kick in a space with 20 members and 20
// open no-approval invites, built and accepted. A Remove now closes the
// invites and seals the new key to the members only; the legacy form sealed
// it to every open invite too.
func BenchmarkRemoveWithOpenInvites(b *testing.B) {
	h := newHarness(b)
	h.run("owner root")
	for i := range 20 {
		h.run(fmt.Sprintf("owner invite i%d writer auto\nm%d join i%d", i, i, i))
	}
	base, rk := h.st, h.readKey
	for _, form := range []string{"closes-invites", "legacy"} {
		b.Run(form, func(b *testing.B) {
			bld := Builder{Author: h.key("owner")}
			for b.Loop() {
				nk, _ := crypto.NewSymKey()
				build := bld.Remove
				if form == "legacy" {
					build = bld.legacyRemove
				}
				raw, err := build(base, []crypto.PubKey{h.key("m0").Public()}, rk, nk, 99)
				if err != nil {
					b.Fatal(err)
				}
				rec, err := VerifyAuthor(raw)
				if err != nil {
					b.Fatal(err)
				}
				vr, err := Countersign(h.node, rec, base.Seq()+1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := base.Apply(vr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
