package syncpb

import (
	"fmt"
	"testing"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestReasonRoundTrip(t *testing.T) {
	err := fmt.Errorf("push: %w", ErrorWithReason(ReasonQuotaExceeded, "quota exceeded", map[string]string{"limit": "changes"}))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("code %v", status.Code(err))
	}
	reason, meta := ReasonOf(err)
	if reason != ReasonQuotaExceeded || meta["limit"] != "changes" {
		t.Fatalf("got %q %v", reason, meta)
	}
	if r, _ := ReasonOf(status.Error(codes.ResourceExhausted, "too many calls")); r != "" {
		t.Fatalf("a plain status has no reason: %q", r)
	}
	if r, _ := ReasonOf(fmt.Errorf("not a status")); r != "" {
		t.Fatalf("got %q", r)
	}
}

// FuzzReasonOf: a node's answer is untrusted: whatever status bytes arrive (the
// grpc-status-details-bin trailer), reading the reason never panics.
func FuzzReasonOf(f *testing.F) {
	st, _ := status.FromError(ErrorWithReason(ReasonNoSpace, "full", map[string]string{"a": "b"}))
	b, _ := proto.Marshal(st.Proto())
	f.Add(b)
	f.Add([]byte{0x08, 0x08, 0x1a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p spb.Status
		if proto.Unmarshal(data, &p) != nil {
			return
		}
		_, _ = ReasonOf(status.FromProto(&p).Err())
	})
}
