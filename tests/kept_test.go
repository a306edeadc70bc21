package tests

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// A space kept on disk (unloaded) still learns of what happens on the node:
// news of a change loads it and it syncs, with nothing but its own
// databases opened; a change made while the device was away is found by the
// digest comparison on connect; and a kick reaches it and offloads it.
func TestKeptSpaceLearnsOfChangesAndOfAKick(t *testing.T) {
	tn := newTestNode(t)
	owner, member := newDevice(t, tn.n.Addr()), newDevice(t, tn.n.Addr())
	ctx := context.Background()
	_, _, err := owner.app.Accounts().Create("owner")
	require.NoError(t, err)
	info, _, err := member.app.Accounts().Create("member")
	require.NoError(t, err)
	id, err := owner.spaces(t).Create(ctx, "kept")
	require.NoError(t, err)
	om, err := owner.app.Members()
	require.NoError(t, err)
	var link string
	waitFor(t, 60*time.Second, "the owner is connected", func() bool {
		link, err = om.CreateInvite(ctx, id, acl.RoleWriter, false)
		return err == nil
	})
	mm, err := member.app.Members()
	require.NoError(t, err)
	waitFor(t, 60*time.Second, "the member joins", func() bool {
		_, _, err = mm.Join(ctx, link)
		return err == nil
	})
	member.waitSpace(t, id)
	osp, err := owner.spaces(t).Get(ctx, id)
	require.NoError(t, err)

	loaded := func() bool {
		for _, l := range member.spaces(t).Loaded() {
			if l == id {
				return true
			}
		}
		return false
	}
	keep := func() {
		t.Helper()
		waitFor(t, 60*time.Second, "the member's space settles", func() bool {
			st, ok, err := member.app.SyncStatus(id)
			return err == nil && ok && st.State.String() == "synced"
		})
		require.NoError(t, member.spaces(t).Unload(id))
		require.False(t, loaded())
	}
	has := func(obj crypto.ObjectID) bool {
		sp, err := member.spaces(t).Get(ctx, id)
		if err != nil {
			return false
		}
		_, err = sp.Get(ctx, obj)
		return err == nil
	}

	// News while connected.
	keep()
	obj, err := osp.CreateObject(ctx, "note", space.Details{})
	require.NoError(t, err)
	waitFor(t, 60*time.Second, "news of the change loads the kept space", loaded)
	waitFor(t, 60*time.Second, "the kept space has the change", func() bool { return has(obj) })

	// A change while the member's device is away: found on reconnect.
	keep()
	member.app.Background()
	obj2, err := osp.CreateObject(ctx, "note", space.Details{})
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	require.False(t, loaded(), "away, nothing loads it")
	member.app.Foreground()
	waitFor(t, 60*time.Second, "the digest comparison on connect loads it", loaded)
	waitFor(t, 60*time.Second, "it has the change made while away", func() bool { return has(obj2) })

	// A kick while it is kept.
	keep()
	dir := filepath.Join(member.app.DataDir(), "accounts", string(info.ID), "spaces", string(id))
	_, err = om.Kick(ctx, id, string(info.ID))
	require.NoError(t, err)
	waitFor(t, 60*time.Second, "the kicked member's kept space is offloaded", func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	})
	in, err := member.spaces(t).Info(id)
	require.NoError(t, err)
	require.Equal(t, space.AccountRemoved, in.AccountStatus)
}
