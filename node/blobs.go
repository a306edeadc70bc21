package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Limits of the blob calls. The device's client (core/syncclient) holds the same numbers;
// a test keeps them equal.
const (
	// MaxBlobSize is the largest blob: a BlobPutRequest (space id, blob id, data and
	// framing) must fit in one gRPC message of protocol.MaxMessageSize, the limit of both
	// the node's receive side and the client's send side.
	MaxBlobSize = protocol.MaxMessageSize - 1<<10
	// MaxBlobDeleteBatch is the most ids one BlobDelete may carry.
	MaxBlobDeleteBatch = 1000
)

// blobIDLen is the length of a blob id: hex of a blake3-256 hash.
const blobIDLen = 2 * 32

// checkBlobID checks the form of a blob id: 64 lowercase hex digits.
func checkBlobID(id string) error {
	if len(id) != blobIDLen {
		return status.Errorf(codes.InvalidArgument, "blob id %.80q: want %d lowercase hex digits, got %d characters", id, blobIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return status.Errorf(codes.InvalidArgument, "blob id %q: want lowercase hex digits", id)
		}
	}
	return nil
}

// checkBlob is the one receive path of blob bytes: the size bound and the content address.
func checkBlob(id string, data []byte) error {
	if err := checkBlobID(id); err != nil {
		return err
	}
	if len(data) > MaxBlobSize {
		return status.Errorf(codes.InvalidArgument, "blob %s is %d bytes: the most a blob may be is %d", id, len(data), MaxBlobSize)
	}
	sum := blake3.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != id {
		return status.Errorf(codes.InvalidArgument, "blob id %s does not match its bytes (their blake3-256 is %s)", id, got)
	}
	return nil
}

// writer checks that who may write to the live space id: a member with a writing role
// (owner, admin, writer). With sync, a space pending deletion is refused (see member).
func (n *Node) writer(ctx context.Context, id crypto.SpaceID, who crypto.PubKey, sync bool) error {
	v, _, err := n.member(ctx, id, who, sync)
	if err != nil {
		return err
	}
	if r := v.state.Role(who); !r.CanWrite() {
		return status.Errorf(codes.PermissionDenied, "%s may not change the files of space %s: it is a %s", who, id, r)
	}
	return nil
}

// blobPut stores a writer's blob once its id is checked against its bytes. A space pending
// deletion or deleted takes no blobs. The answer comes once the blob is durable.
func (n *Node) blobPut(ctx context.Context, m *syncpb.BlobPutRequest) (*syncpb.BlobPutResponse, error) {
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	if err := checkBlob(m.Id, m.Data); err != nil {
		return nil, err
	}
	if err := n.writer(ctx, id, sessionOf(ctx).account, true); err != nil {
		return nil, err
	}
	err = n.store.PutBlob(ctx, id, m.Id, m.Data, n.limits())
	if q := quotaErr(err); q != nil {
		return nil, q
	}
	if errors.Is(err, store.ErrNotLive) {
		return nil, status.Errorf(codes.FailedPrecondition, "space %s is being deleted: it takes no new files", id)
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	used, err := n.store.BlobUsage(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	return &syncpb.BlobPutResponse{Used: used, Limit: n.cfg.BlobQuota}, nil
}

// blobGet returns a blob to a member (readers included) of a space served for sync.
func (n *Node) blobGet(ctx context.Context, m *syncpb.BlobGetRequest) (*syncpb.BlobGetResponse, error) {
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	if err := checkBlobID(m.Id); err != nil {
		return nil, err
	}
	if _, _, err := n.member(ctx, id, sessionOf(ctx).account, true); err != nil {
		return nil, err
	}
	data, err := n.store.GetBlob(ctx, id, m.Id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "space %s has no blob %s on this node", id, m.Id)
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	return &syncpb.BlobGetResponse{Data: data}, nil
}

// blobDelete deletes a writer's blobs in order, each durably on its own; a blob the node
// does not hold counts as deleted. It stops at the first failure and reports it in the
// answer with how many ids were done. A space pending deletion still takes deletes (they
// only free space, and the owner may cancel); in a deleted space every blob is gone or
// about to be purged, so all ids count as done.
func (n *Node) blobDelete(ctx context.Context, m *syncpb.BlobDeleteRequest) (*syncpb.BlobDeleteResponse, error) {
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	if len(m.Ids) > MaxBlobDeleteBatch {
		return nil, status.Errorf(codes.InvalidArgument, "%d blob ids in one delete: the most is %d", len(m.Ids), MaxBlobDeleteBatch)
	}
	st, err := n.spaceStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Code == codeDeleted {
		return &syncpb.BlobDeleteResponse{Done: uint32(len(m.Ids))}, nil
	}
	if err := n.writer(ctx, id, sessionOf(ctx).account, false); err != nil {
		return nil, err
	}
	resp := &syncpb.BlobDeleteResponse{}
	for i, blob := range m.Ids {
		err := checkBlobID(blob)
		if err == nil {
			if err = n.store.DeleteBlob(ctx, id, blob); errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		}
		if err != nil {
			s := status.Convert(grpcErr(err))
			resp.FailedId, resp.FailedCode = blob, uint32(s.Code())
			resp.FailedMessage = fmt.Sprintf("delete blob %s: %s", blob, s.Message())
			return resp, nil
		}
		resp.Done = uint32(i + 1)
	}
	return resp, nil
}

// blobUsage answers a member the bytes its space's blobs use and the quota.
func (n *Node) blobUsage(ctx context.Context, m *syncpb.BlobUsageRequest) (*syncpb.BlobUsageResponse, error) {
	id, err := parseSpace(m.SpaceId)
	if err != nil {
		return nil, err
	}
	if _, _, err := n.member(ctx, id, sessionOf(ctx).account, false); err != nil {
		return nil, err
	}
	used, err := n.store.BlobUsage(ctx, id)
	if err != nil {
		return nil, grpcErr(err)
	}
	return &syncpb.BlobUsageResponse{Used: used, Limit: n.cfg.BlobQuota}, nil
}
