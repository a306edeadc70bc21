package syncclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
)

// TestBlobErrKinds: every way a blob call fails gets its kind; transient trouble is never
// NotFound and NotFound never Transient (DESIGN §13).
func TestBlobErrKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want errkind.Kind
	}{
		{"not found", status.Error(codes.NotFound, "no blob"), errkind.NotFound},
		{"unavailable", status.Error(codes.Unavailable, "connection refused"), errkind.Transient},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), errkind.Transient},
		{"aborted", status.Error(codes.Aborted, "lost a race"), errkind.Transient},
		{"canceled", status.Error(codes.Canceled, "closing"), errkind.Transient},
		{"internal", status.Error(codes.Internal, "disk"), errkind.Transient},
		{"unknown", status.Error(codes.Unknown, "?"), errkind.Transient},
		{"context deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), errkind.Transient},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), errkind.Transient},
		{"eof", io.EOF, errkind.Transient},
		{"wrapped unavailable", fmt.Errorf("syncclient: hello: %w", status.Error(codes.Unavailable, "down")), errkind.Transient},
		{"quota", syncpb.ErrorWithReason(syncpb.ReasonQuotaExceeded, "space storage quota exceeded (used 1 of 1 bytes)", nil), errkind.Quota},
		{"rate limit", status.Error(codes.ResourceExhausted, "too many unauthenticated calls"), errkind.Transient},
		{"permission", status.Error(codes.PermissionDenied, "not a member"), errkind.Permission},
		{"invalid", status.Error(codes.InvalidArgument, "bad id"), errkind.Invalid},
		{"precondition", status.Error(codes.FailedPrecondition, "pending deletion"), errkind.Precondition},
		{"unauthenticated", status.Error(codes.Unauthenticated, "who?"), errkind.Unauthenticated},
		{"node key mismatch", fmt.Errorf("node: %w", ErrNodeKeyMismatch), errkind.Unauthenticated},
		{"data loss", status.Error(codes.DataLoss, "lost"), errkind.Corrupt},
		{"kind kept", errkind.Errorf("x", errkind.Corrupt, "bad answer"), errkind.Corrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := blobErr("op", tc.err)
			require.Equal(t, tc.want, errkind.Of(err), "%v", err)
			require.ErrorIs(t, err, tc.err, "the cause stays reachable")
		})
	}
	require.NoError(t, blobErr("op", nil))
	err := blobErr("syncclient.PutBlob", status.Error(codes.ResourceExhausted, "space storage quota exceeded (used 5 of 9 bytes)"))
	require.Equal(t, "space storage quota exceeded (used 5 of 9 bytes)", errkind.Message(err), "the node's message, without the gRPC prefix")
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "the code stays readable")
}

func TestDeleteOutcome(t *testing.T) {
	batch := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name string
		resp syncpb.BlobDeleteResponse
		done int
		kind errkind.Kind // Other: no error
	}{
		{"all", syncpb.BlobDeleteResponse{Done: 3}, 3, errkind.Other},
		{"stopped", syncpb.BlobDeleteResponse{Done: 1, FailedId: "b", FailedCode: uint32(codes.Unavailable), FailedMessage: "b: down"}, 1, errkind.Transient},
		{"stopped at first", syncpb.BlobDeleteResponse{FailedId: "a", FailedCode: uint32(codes.PermissionDenied)}, 0, errkind.Permission},
		{"more than asked", syncpb.BlobDeleteResponse{Done: 4}, 0, errkind.Corrupt},
		{"stopped without a code", syncpb.BlobDeleteResponse{Done: 1, FailedId: "b"}, 1, errkind.Corrupt},
		{"names another id", syncpb.BlobDeleteResponse{Done: 1, FailedId: "c", FailedCode: uint32(codes.Internal)}, 1, errkind.Corrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := deleteOutcome(batch, &tc.resp)
			require.Equal(t, tc.done, n)
			if tc.kind == errkind.Other {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.kind, errkind.Of(blobErr("op", err)), "%v", err)
		})
	}
}

// FuzzDeleteOutcome feeds arbitrary answer bytes to the decoding and reading of a
// BlobDeleteResponse: never a panic, never more done than asked, and a short count always
// comes with an error.
func FuzzDeleteOutcome(f *testing.F) {
	ok, _ := (&syncpb.BlobDeleteResponse{Done: 2}).Marshal()
	stop, _ := (&syncpb.BlobDeleteResponse{Done: 1, FailedId: "b", FailedCode: 14, FailedMessage: "down"}).Marshal()
	f.Add(ok)
	f.Add(stop)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp syncpb.BlobDeleteResponse
		if err := resp.Unmarshal(b); err != nil {
			return
		}
		batch := []string{"a", "b"}
		n, err := deleteOutcome(batch, &resp)
		if n < 0 || n > len(batch) {
			t.Fatalf("done %d of %d", n, len(batch))
		}
		if n < len(batch) && err == nil {
			t.Fatalf("done %d of %d without an error", n, len(batch))
		}
		if err != nil && errors.Is(blobErr("op", err), context.Canceled) {
			t.Fatalf("a node's answer read as the caller's cancellation")
		}
	})
}
