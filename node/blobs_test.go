package node_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zeebo/blake3"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/space"
)

// sealed is a test blob: random bytes and their id.
type sealed struct {
	id   string
	data []byte
}

func blobID(b []byte) string {
	sum := blake3.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newBlob(t *testing.T, size int) sealed {
	t.Helper()
	b := make([]byte, size)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return sealed{blobID(b), b}
}

func requireKind(t *testing.T, want errkind.Kind, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, want, errkind.Of(err), "%v %v", err, msgAndArgs)
}

// faultStore injects failures into a store's blob calls; nil fields pass through.
type faultStore struct {
	store.Store
	getBlob    func(ctx context.Context, id crypto.SpaceID, blob string) ([]byte, error)
	deleteBlob func(ctx context.Context, id crypto.SpaceID, blob string) error
}

func (f *faultStore) GetBlob(ctx context.Context, id crypto.SpaceID, blob string) ([]byte, error) {
	if f.getBlob != nil {
		return f.getBlob(ctx, id, blob)
	}
	return f.Store.GetBlob(ctx, id, blob)
}

func (f *faultStore) DeleteBlob(ctx context.Context, id crypto.SpaceID, blob string) error {
	if f.deleteBlob != nil {
		return f.deleteBlob(ctx, id, blob)
	}
	return f.Store.DeleteBlob(ctx, id, blob)
}

func TestBlobLimitsInStep(t *testing.T) {
	require.Equal(t, node.MaxBlobSize, syncclient.MaxBlobSize)
	require.LessOrEqual(t, syncclient.MaxBlobDeleteBatch, node.MaxBlobDeleteBatch)
}

// TestBlobRoles: members read (readers included), writers put and delete, others get
// PermissionDenied, over real sockets.
func TestBlobRoles(t *testing.T) {
	e := memNode(t)
	owner, writer, reader, gone, stranger := newAccount(t), newAccount(t), newAccount(t), newAccount(t), newAccount(t)
	oc, wc, rc, gc, sc := e.dial(owner), e.dial(writer), e.dial(reader), e.dial(gone), e.dial(stranger)
	s := createSpace(t, oc, owner)
	s.join(oc, wc, owner, writer, acl.RoleWriter)
	s.join(oc, rc, owner, reader, acl.RoleReader)
	s.join(oc, gc, owner, gone, acl.RoleWriter)
	s.remove(oc, owner, gone)

	a, b := newBlob(t, 100), newBlob(t, 50)
	require.NoError(t, oc.PutBlob(bg, s.id, a.id, a.data), "owner puts")
	require.NoError(t, wc.PutBlob(bg, s.id, b.id, b.data), "writer puts")
	require.NoError(t, wc.PutBlob(bg, s.id, b.id, b.data), "putting again is fine")
	for name, c := range map[string]*syncclient.Client{"reader": rc, "removed": gc, "stranger": sc} {
		c2 := newBlob(t, 10)
		requireKind(t, errkind.Permission, c.PutBlob(bg, s.id, c2.id, c2.data), name+" put")
		done, err := c.DeleteBlobs(bg, s.id, []string{a.id})
		requireKind(t, errkind.Permission, err, name+" delete")
		require.Zero(t, done, name)
	}
	for name, c := range map[string]*syncclient.Client{"owner": oc, "writer": wc, "reader": rc} {
		got, err := c.GetBlob(bg, s.id, a.id)
		require.NoError(t, err, name)
		require.Equal(t, a.data, got, name)
		used, limit, err := c.BlobUsage(bg, s.id)
		require.NoError(t, err, name)
		require.EqualValues(t, 150, used, name)
		require.EqualValues(t, node.DefaultBlobQuota, limit, name)
	}
	for name, c := range map[string]*syncclient.Client{"removed": gc, "stranger": sc} {
		_, err := c.GetBlob(bg, s.id, a.id)
		requireKind(t, errkind.Permission, err, name+" get")
		_, _, err = c.BlobUsage(bg, s.id)
		requireKind(t, errkind.Permission, err, name+" usage")
	}
	done, err := wc.DeleteBlobs(bg, s.id, []string{a.id, b.id})
	require.NoError(t, err)
	require.Equal(t, 2, done)
	_, err = rc.GetBlob(bg, s.id, a.id)
	requireKind(t, errkind.NotFound, err)
	used, _, err := rc.BlobUsage(bg, s.id)
	require.NoError(t, err)
	require.Zero(t, used)
}

// TestBlobBadInput: the node checks ids against bytes; sizes are bounded on both sides.
func TestBlobBadInput(t *testing.T) {
	e := memNode(t)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	a := newBlob(t, 64)
	other := newBlob(t, 64)
	for name, id := range map[string]string{
		"another blob's id": other.id,
		"upper case":        strings.ToUpper(a.id),
		"short":             a.id[:63],
		"empty":             "",
		"not hex":           strings.Repeat("g", 64),
	} {
		err := c.PutBlob(bg, s.id, id, a.data)
		requireKind(t, errkind.Invalid, err, name)
		_, err = c.GetBlob(bg, s.id, other.id)
		requireKind(t, errkind.NotFound, err, name+": nothing was stored")
	}
	require.Contains(t, errkind.Message(c.PutBlob(bg, s.id, other.id, a.data)), "does not match its bytes")
	_, err := c.GetBlob(bg, s.id, "../../etc")
	requireKind(t, errkind.Invalid, err)
	done, err := c.DeleteBlobs(bg, s.id, make([]string, node.MaxBlobDeleteBatch+1))
	requireKind(t, errkind.Invalid, err, "an empty id stops the batch")
	require.Zero(t, done)
	err = c.PutBlob(bg, "not-a-space", a.id, a.data)
	requireKind(t, errkind.Invalid, err)

	// The largest blob crosses both sides' message limits; one byte more is refused
	// before it is sent.
	big := newBlob(t, node.MaxBlobSize)
	require.NoError(t, c.PutBlob(bg, s.id, big.id, big.data))
	got, err := c.GetBlob(bg, s.id, big.id)
	require.NoError(t, err)
	require.Equal(t, big.data, got)
	over := newBlob(t, node.MaxBlobSize+1)
	requireKind(t, errkind.Invalid, c.PutBlob(bg, s.id, over.id, over.data))
}

// TestBlobQuota: the space's quota reaches the client as errkind.Quota with the numbers.
func TestBlobQuota(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.BlobQuota = 100 })
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	other := createSpace(t, c, owner)
	a, b, one := newBlob(t, 60), newBlob(t, 40), newBlob(t, 1)
	require.NoError(t, c.PutBlob(bg, s.id, a.id, a.data))
	require.NoError(t, c.PutBlob(bg, s.id, b.id, b.data), "exactly at the quota")
	err := c.PutBlob(bg, s.id, one.id, one.data)
	requireKind(t, errkind.Quota, err)
	require.Contains(t, errkind.Message(err), "space storage quota exceeded (used 100 of 100 bytes")
	require.NoError(t, c.PutBlob(bg, s.id, a.id, a.data), "a stored blob puts again")
	require.NoError(t, c.PutBlob(bg, other.id, one.id, one.data), "the quota is per space")
	used, limit, err := c.BlobUsage(bg, s.id)
	require.NoError(t, err)
	require.Equal(t, [2]int64{100, 100}, [2]int64{used, limit})
	done, err := c.DeleteBlobs(bg, s.id, []string{b.id})
	require.NoError(t, err)
	require.Equal(t, 1, done)
	require.NoError(t, c.PutBlob(bg, s.id, one.id, one.data), "deleting frees room")
}

// TestBlobDeleteBatch: deletes go in order, "not found" counts as done, and the first
// failure stops the batch with the right count; later ids are not tried.
func TestBlobDeleteBatch(t *testing.T) {
	fs := &faultStore{Store: store.NewMemory()}
	e := startNode(t, fs, crypto.PrivKey{}, nil)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	bs := make([]sealed, 4)
	for i := range bs {
		bs[i] = newBlob(t, 10+i)
		require.NoError(t, c.PutBlob(bg, s.id, bs[i].id, bs[i].data))
	}
	missing := newBlob(t, 5)
	present := func(b sealed) bool {
		_, err := c.GetBlob(bg, s.id, b.id)
		if errkind.Is(err, errkind.NotFound) {
			return false
		}
		require.NoError(t, err)
		return true
	}

	// A bad id in the middle.
	done, err := c.DeleteBlobs(bg, s.id, []string{bs[0].id, missing.id, "BAD", bs[1].id})
	requireKind(t, errkind.Invalid, err)
	require.Equal(t, 2, done)
	require.Contains(t, errkind.Message(err), "BAD")
	require.False(t, present(bs[0]))
	require.True(t, present(bs[1]), "after the failure nothing is tried")

	// A storage failure in the middle is transient and names the blob.
	fs.deleteBlob = func(ctx context.Context, id crypto.SpaceID, blob string) error {
		if blob == bs[2].id {
			return errors.New("disk on fire")
		}
		return fs.Store.DeleteBlob(ctx, id, blob)
	}
	done, err = c.DeleteBlobs(bg, s.id, []string{bs[1].id, bs[2].id, bs[3].id})
	requireKind(t, errkind.Transient, err)
	require.Equal(t, 1, done)
	require.Contains(t, errkind.Message(err), bs[2].id)
	require.False(t, present(bs[1]))
	require.True(t, present(bs[2]))
	require.True(t, present(bs[3]))

	// Across the client's request batches: the count is of the whole list.
	ids := make([]string, 1200)
	for i := range ids {
		ids[i] = blobID([]byte(fmt.Sprint("never stored ", i)))
	}
	var calls atomic.Int64
	fs.deleteBlob = func(ctx context.Context, id crypto.SpaceID, blob string) error {
		calls.Add(1)
		if blob == ids[700] {
			return errors.New("disk on fire")
		}
		return fs.Store.DeleteBlob(ctx, id, blob)
	}
	done, err = c.DeleteBlobs(bg, s.id, ids)
	requireKind(t, errkind.Transient, err)
	require.Equal(t, 700, done)
	require.EqualValues(t, 701, calls.Load(), "no id after the failure was tried")
	fs.deleteBlob = nil
	done, err = c.DeleteBlobs(bg, s.id, ids)
	require.NoError(t, err)
	require.Equal(t, len(ids), done)
	done, err = c.DeleteBlobs(bg, s.id, nil)
	require.NoError(t, err)
	require.Zero(t, done)
}

// TestBlobTransient: a node going away mid-call is Transient, never NotFound; a missing
// blob is NotFound, never Transient.
func TestBlobTransient(t *testing.T) {
	entered := make(chan struct{}, 1)
	fs := &faultStore{Store: store.NewMemory()}
	e := startNode(t, fs, crypto.PrivKey{}, nil)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	a := newBlob(t, 10)
	_, err := c.GetBlob(bg, s.id, a.id)
	requireKind(t, errkind.NotFound, err)

	fs.getBlob = func(ctx context.Context, id crypto.SpaceID, blob string) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done() // the node stops under the call
		return nil, ctx.Err()
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.GetBlob(bg, s.id, a.id)
		errc <- err
	}()
	<-entered
	require.NoError(t, e.node.Close())
	select {
	case err = <-errc:
	case <-time.After(30 * time.Second):
		t.Fatal("the call did not end when the node stopped")
	}
	requireKind(t, errkind.Transient, err, "node stopped mid-call")

	for name, call := range map[string]func() error{
		"get":    func() error { _, err := c.GetBlob(bg, s.id, a.id); return err },
		"put":    func() error { return c.PutBlob(bg, s.id, a.id, a.data) },
		"delete": func() error { _, err := c.DeleteBlobs(bg, s.id, []string{a.id}); return err },
		"usage":  func() error { _, _, err := c.BlobUsage(bg, s.id); return err },
	} {
		requireKind(t, errkind.Transient, call(), name+" to a stopped node")
	}
	ctx, cancel := context.WithTimeout(bg, time.Millisecond)
	defer cancel()
	<-ctx.Done()
	_, err = c.GetBlob(ctx, s.id, a.id)
	requireKind(t, errkind.Transient, err, "deadline exceeded")
}

// TestBlobSpaceDeletion: a space pending deletion takes no puts and serves no gets, but
// takes deletes; a deleted space's blobs are purged and deletes of them count as done.
func TestBlobSpaceDeletion(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.DeletionGrace = time.Hour })
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	a, b, late := newBlob(t, 10), newBlob(t, 20), newBlob(t, 30)
	require.NoError(t, c.PutBlob(bg, s.id, a.id, a.data))
	require.NoError(t, c.PutBlob(bg, s.id, b.id, b.data))
	req, err := space.NewDeleteRequest(owner.account, s.id, 10, false)
	require.NoError(t, err)
	_, err = c.SpaceDelete(bg, req)
	require.NoError(t, err)

	requireKind(t, errkind.Precondition, c.PutBlob(bg, s.id, late.id, late.data), "pending: no puts")
	_, err = c.GetBlob(bg, s.id, a.id)
	requireKind(t, errkind.Precondition, err, "pending: not served")
	done, err := c.DeleteBlobs(bg, s.id, []string{a.id})
	require.NoError(t, err, "pending: deletes still free space")
	require.Equal(t, 1, done)

	e.clock.Advance(time.Hour + time.Second)
	require.NoError(t, e.node.Sweep(bg))
	_, err = e.store.GetBlob(bg, s.id, b.id)
	require.ErrorIs(t, err, store.ErrNotFound, "purged")
	used, err := e.store.BlobUsage(bg, s.id)
	require.NoError(t, err)
	require.Zero(t, used)
	done, err = c.DeleteBlobs(bg, s.id, []string{b.id, late.id})
	require.NoError(t, err, "deleted: every blob is gone")
	require.Equal(t, 2, done)
	requireKind(t, errkind.Precondition, c.PutBlob(bg, s.id, late.id, late.data), "deleted: no puts")
}
