package membership

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func key(t testing.TB) crypto.PrivKey {
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	return k
}

func TestLinkRoundTrip(t *testing.T) {
	in := Invite{
		Space:  crypto.SpaceID(crypto.Sum([]byte("space"))),
		Invite: crypto.RecordID(crypto.Sum([]byte("invite"))),
		Name:   "Family & Friends / 2026",
		Key:    key(t),
	}
	link := in.Link()
	assert.True(t, strings.HasPrefix(link, "hearth:invite/"+string(in.Space)+"/"))
	got, err := ParseLink("  " + link + "\n")
	require.NoError(t, err)
	assert.Equal(t, in.Space, got.Space)
	assert.Equal(t, in.Invite, got.Invite)
	assert.Equal(t, in.Name, got.Name)
	assert.Equal(t, in.Key.Public(), got.Key.Public())
}

func TestParseLinkRejects(t *testing.T) {
	good := Invite{Space: crypto.SpaceID(crypto.Sum([]byte("s"))), Invite: crypto.RecordID(crypto.Sum([]byte("i"))), Key: key(t)}.Link()
	for name, link := range map[string]string{
		"empty":        "",
		"other scheme": strings.Replace(good, "hearth:invite/", "https://x/", 1),
		"no key":       good[:strings.Index(good, "#")],
		"short key":    good[:len(good)-3],
		"bad space":    strings.Replace(good, "hearth:invite/", "hearth:invite/x", 1),
		"no invite":    "hearth:invite/" + strings.Repeat("a", 52) + "#" + strings.Repeat("a", 52),
		"bad query":    strings.Replace(good, "#", "?name=%zz#", 1),
	} {
		_, err := ParseLink(link)
		assert.Error(t, err, name)
	}
}

func FuzzParseLink(f *testing.F) {
	f.Add(Invite{Space: crypto.SpaceID(crypto.Sum([]byte("s"))), Invite: crypto.RecordID(crypto.Sum([]byte("i"))), Name: "n", Key: key(f)}.Link())
	f.Add("hearth:invite/a/b#c")
	f.Add("hearth:invite/")
	f.Fuzz(func(t *testing.T, link string) {
		in, err := ParseLink(link)
		if err != nil {
			return
		}
		again, err := ParseLink(in.Link())
		if err != nil || again.Space != in.Space || again.Invite != in.Invite || again.Name != in.Name {
			t.Fatalf("%q parsed, but its own link did not round-trip: %v", link, err)
		}
	})
}

// TestMembersFold builds a real ACL history with the protocol's builder and
// a test acceptor, and checks every status the CLI promises, the names the
// records carry, and that nobody is listed without a role.
func TestMembersFold(t *testing.T) {
	owner, node := key(t), key(t)
	joiner, declined, leaver, kicked := key(t), key(t), key(t), key(t)
	sid := crypto.SpaceID(crypto.Sum([]byte("space")))
	st := acl.New(sid, owner.Public())
	var history []acl.VerifiedRecord
	accept := func(raw []byte, err error) acl.VerifiedRecord {
		t.Helper()
		require.NoError(t, err)
		var vr acl.VerifiedRecord
		st, vr, err = acl.Accept(st, node, raw)
		require.NoError(t, err)
		history = append(history, vr)
		return vr
	}
	named := func(k crypto.PrivKey, name string) acl.Builder { return acl.Builder{Author: k, Name: name} }
	rk, err := crypto.NewSymKey()
	require.NoError(t, err)
	b := named(owner, "Olga")
	accept(b.Root(sid, rk, 1))
	inviteKey := key(t)
	inv := accept(b.Invite(st, inviteKey.Public(), acl.RoleWriter, true, rk, 2))
	reqJoin := accept(named(joiner, "Jo").JoinRequest(st, inv.ID, inviteKey, 3))
	reqDecl := accept(named(declined, "Dee").JoinRequest(st, inv.ID, inviteKey, 4))
	accept(b.JoinAccept(st, reqJoin.ID, acl.RoleWriter, rk, 5))
	accept(b.JoinDecline(st, reqDecl.ID, 6))
	for _, who := range []crypto.PrivKey{leaver, kicked} {
		r := accept(acl.Builder{Author: who}.JoinRequest(st, inv.ID, inviteKey, 7))
		accept(b.JoinAccept(st, r.ID, acl.RoleReader, rk, 8))
	}
	accept(acl.Builder{Author: leaver}.Leave(st, 9))
	pending := key(t)
	accept(named(pending, "Pat").JoinRequest(st, inv.ID, inviteKey, 10))
	require.Len(t, Invites(st, history), 1)
	assert.Equal(t, "Olga", Invites(st, history)[0].CreatorName)
	rk2, err := crypto.NewSymKey()
	require.NoError(t, err)
	accept(b.Remove(st, []crypto.PubKey{kicked.Public()}, rk, rk2, 11))
	assert.Empty(t, Invites(st, history), "a kick closes every open invite")

	got := map[crypto.Identity]string{}
	for _, m := range Members(st, history) {
		got[m.Identity] = m.Status.String() + "/" + m.Role.String() + "/" + m.Name
	}
	assert.Equal(t, map[crypto.Identity]string{
		owner.Public().Identity():    "active/owner/Olga",
		joiner.Public().Identity():   "active/writer/Jo",
		declined.Public().Identity(): "declined/writer/Dee", // the role asked for
		leaver.Public().Identity():   "left/reader/",        // the last role held
		kicked.Public().Identity():   "removed/reader/",
		pending.Public().Identity():  "joining/writer/Pat", // pending requests outlive the kick
	}, got)
}
