package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/membership"
	"github.com/hearth-sync/hearth/protocol/acl"
)

// TestKickRevokesEveryInvite is issue 16.1's attack through the real
// binaries: a member joined through one no-approval link and knows the
// others (they were shared in the same chat). After the kick, nothing it
// holds opens the space: no link admits it or a fresh identity, and the
// node shows the links to nobody (the ACL, and the read keys sealed in it,
// stay out of reach).
func TestKickRevokesEveryInvite(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	owner, kicked, fresh := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{owner, kicked, fresh} {
		startServe(t, d, "--node", node.addr)
	}
	cliJSON(t, owner, "account", "create", "--name", "Olga")
	kickedID := str(cliJSON(t, kicked, "account", "create", "--name", "Kim"), "accountId")
	cliJSON(t, fresh, "account", "create", "--name", "Kim again")
	sp := str(cliJSON(t, owner, "space", "create", "--name", "Team"), "spaceId")
	obj := str(cliJSON(t, owner, "object", "create", sp, "name=before"), "objectId")
	joinedWith := str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite")
	alsoKnown := str(cliJSON(t, owner, "space", "invite", sp, "--no-approval", "--role", "reader"), "invite")
	gated := str(cliJSON(t, owner, "space", "invite", sp), "invite")
	cliJSON(t, kicked, "space", "join", joinedWith)
	eventually(t, "the member has the object", func() bool {
		d, _ := objectDetails(t, kicked, sp, obj)
		return d["name"] == "before"
	})

	kick := cliJSON(t, owner, "space", "kick", sp, kickedID)
	assert.EqualValues(t, 3, kick["invitesRevoked"])
	assert.Empty(t, cliJSON(t, owner, "space", "invites", sp)["invites"])
	cliJSON(t, owner, "object", "set", sp, obj, "name=after")

	// No link brings the kicked member, or a fresh identity of theirs, back.
	eventually(t, "the kicked device offloads", func() bool { return spaceEntry(t, kicked, sp)["mode"] == "offloaded" })
	for _, try := range []struct{ data, link string }{
		{kicked, alsoKnown}, {kicked, gated}, {fresh, joinedWith}, {fresh, alsoKnown}, {fresh, gated},
	} {
		out, errOut, code := cli(t, try.data, "--json", "space", "join", try.link)
		assert.NotEqual(t, 0, code, "a link open before the kick admitted someone: %s", out)
		assert.Contains(t, errOut, "no open invite", errOut)
		leaks(t, []string{"space", "join"}, errOut)
	}

	// The node itself: the links' keys open nothing (InviteLookup is how a
	// joiner reads the ACL, read keys sealed to open invites included).
	c, acc := dialOutsider(t, node.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, link := range []string{joinedWith, alsoKnown, gated} {
		in, err := membership.ParseLink(link)
		require.NoError(t, err)
		sig := in.Key.Sign(acl.JoinInviteMessage(in.Space, in.Invite, acc.Public()))
		_, err = c.InviteLookup(ctx, in.Space, in.Invite, sig)
		assert.Equal(t, codes.NotFound, status.Code(err), "invite lookup after the kick: %v", err)
	}

	// A new link still works for whoever the owner wants back.
	again := str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite")
	assert.Equal(t, "active", cliJSON(t, fresh, "space", "join", again)["accountStatus"])
	eventually(t, "the new member reads what was written after the kick", func() bool {
		d, _ := objectDetails(t, fresh, sp, obj)
		return d["name"] == "after"
	})
}
