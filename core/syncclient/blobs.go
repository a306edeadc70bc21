package syncclient

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/zeebo/blake3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/handshake"
)

// Limits of the blob calls; the node holds the same numbers (node.MaxBlobSize,
// node.MaxBlobDeleteBatch) and a test keeps them in step.
const (
	// MaxBlobSize is the largest blob the node takes: a put must fit in one gRPC message
	// of protocol.MaxMessageSize with its ids and framing.
	MaxBlobSize = protocol.MaxMessageSize - 1<<10
	// MaxBlobDeleteBatch is how many ids DeleteBlobs sends per request (the node takes
	// up to 1000).
	MaxBlobDeleteBatch = 500
)

// PutBlob stores sealed bytes under id = hex(blake3(data)) for the space.
// errkind.Quota when the space's node quota would be exceeded (the message says used/limit);
// errkind.Permission for non-writers; errkind.Invalid for a bad id/size; errkind.Transient for
// network trouble.
func (c *Client) PutBlob(ctx context.Context, space crypto.SpaceID, id string, data []byte) error {
	const op = "syncclient.PutBlob"
	if len(data) > MaxBlobSize {
		// Checked here: gRPC refuses an oversized send as RESOURCE_EXHAUSTED, which must
		// not read as a quota refusal.
		return errkind.Errorf(op, errkind.Invalid, "blob %s is %d bytes: the most a blob may be is %d", id, len(data), MaxBlobSize)
	}
	_, err := call(ctx, c, func(ctx context.Context) (*syncpb.BlobPutResponse, error) {
		return c.rpc.BlobPut(ctx, &syncpb.BlobPutRequest{SpaceId: string(space), Id: id, Data: data})
	})
	return blobErr(op, err)
}

// GetBlob returns the bytes; errkind.NotFound when the node has no such blob.
// Bytes that do not hash to id are refused as errkind.Corrupt.
func (c *Client) GetBlob(ctx context.Context, space crypto.SpaceID, id string) ([]byte, error) {
	const op = "syncclient.GetBlob"
	resp, err := call(ctx, c, func(ctx context.Context) (*syncpb.BlobGetResponse, error) {
		return c.rpc.BlobGet(ctx, &syncpb.BlobGetRequest{SpaceId: string(space), Id: id})
	})
	if err != nil {
		return nil, blobErr(op, err)
	}
	sum := blake3.Sum256(resp.Data)
	if got := hex.EncodeToString(sum[:]); got != id {
		return nil, errkind.Errorf(op, errkind.Corrupt, "the node answered blob %s with bytes that hash to %s", id, got)
	}
	return resp.Data, nil
}

// DeleteBlobs deletes in order; not-found counts as done. It returns how many ids were done
// and, when done < len(ids), the error for ids[done] (kinds as above).
func (c *Client) DeleteBlobs(ctx context.Context, space crypto.SpaceID, ids []string) (done int, err error) {
	const op = "syncclient.DeleteBlobs"
	for done < len(ids) {
		batch := ids[done:min(done+MaxBlobDeleteBatch, len(ids))]
		resp, err := call(ctx, c, func(ctx context.Context) (*syncpb.BlobDeleteResponse, error) {
			return c.rpc.BlobDelete(ctx, &syncpb.BlobDeleteRequest{SpaceId: string(space), Ids: batch})
		})
		if err != nil {
			return done, blobErr(op, err)
		}
		n, err := deleteOutcome(batch, resp)
		done += n
		if err != nil {
			return done, blobErr(op, err)
		}
	}
	return done, nil
}

// deleteOutcome reads a BlobDeleteResponse to batch: how many ids are done and, when not
// all, the failure of the next one. An answer that breaks the contract is Corrupt and
// counts nothing it cannot vouch for.
func deleteOutcome(batch []string, resp *syncpb.BlobDeleteResponse) (int, error) {
	n := int(resp.Done)
	switch {
	case n > len(batch):
		return 0, errkind.Errorf("", errkind.Corrupt, "the node answered %d blobs deleted of %d asked", n, len(batch))
	case n == len(batch):
		return n, nil
	case codes.Code(resp.FailedCode) == codes.OK || resp.FailedId != batch[n]:
		return n, errkind.Errorf("", errkind.Corrupt, "the node stopped deleting at blob %s without saying why (it named %q, code %d)",
			batch[n], resp.FailedId, resp.FailedCode)
	}
	return n, status.Error(codes.Code(resp.FailedCode), resp.FailedMessage)
}

// BlobUsage returns the space's used bytes and quota.
func (c *Client) BlobUsage(ctx context.Context, space crypto.SpaceID) (used, limit int64, err error) {
	resp, err := call(ctx, c, func(ctx context.Context) (*syncpb.BlobUsageResponse, error) {
		return c.rpc.BlobUsage(ctx, &syncpb.BlobUsageRequest{SpaceId: string(space)})
	})
	if err != nil {
		return 0, 0, blobErr("syncclient.BlobUsage", err)
	}
	return resp.Used, resp.Limit, nil
}

// nodeError is a gRPC failure whose text is the status message alone (the node's words,
// without the "rpc error: code = …" prefix); the original error stays in the chain, so
// status.Code and errors.Is still see it.
type nodeError struct {
	msg string
	err error
}

func (e nodeError) Error() string { return e.msg }
func (e nodeError) Unwrap() error { return e.err }

// blobErr gives an error of a blob call its kind (DESIGN §13): a transient failure is never
// NotFound, and NotFound never Transient. It is for the blob calls, where the node uses
// RESOURCE_EXHAUSTED with the reason QUOTA_EXCEEDED for a write over a quota, and without
// it to slow a client down (the client checks sizes itself, so gRPC's own size refusals do
// not arise).
func blobErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if k := errkind.Of(err); k != errkind.Other {
		return errkind.E(op, k, err)
	}
	if errors.Is(err, handshake.ErrInvalid) {
		// The node failed its own proof (a key other than the pinned one): not a
		// failure that waiting fixes.
		return errkind.E(op, errkind.Unauthenticated, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errkind.E(op, errkind.Transient, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not a status: the transport failed below gRPC (a reset, EOF).
		return errkind.E(op, errkind.Transient, err)
	}
	var kind errkind.Kind
	switch st.Code() {
	case codes.NotFound:
		kind = errkind.NotFound
	case codes.InvalidArgument, codes.OutOfRange:
		kind = errkind.Invalid
	case codes.PermissionDenied:
		kind = errkind.Permission
	case codes.Unauthenticated:
		kind = errkind.Unauthenticated
	case codes.ResourceExhausted:
		// A quota says so (the node's reason); a rate limit is worth a retry.
		if r, _ := syncpb.ReasonOf(err); r == syncpb.ReasonQuotaExceeded {
			kind = errkind.Quota
		} else {
			kind = errkind.Transient
		}
	case codes.FailedPrecondition:
		kind = errkind.Precondition
	case codes.AlreadyExists:
		kind = errkind.Exists
	case codes.DataLoss:
		kind = errkind.Corrupt
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.Internal, codes.Unknown:
		kind = errkind.Transient
	default:
		kind = errkind.Other
	}
	return errkind.E(op, kind, nodeError{st.Message(), err})
}
