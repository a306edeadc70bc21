package core

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/syncstatus"
)

// TestFailureReasonQuotas: the node's QUOTA_EXCEEDED answers (issue 16.4) show as a
// space status `limited` with the limit's reason; a RESOURCE_EXHAUSTED without that
// reason (a rate limit, a slow stream) is transient.
func TestFailureReasonQuotas(t *testing.T) {
	quota := func(limit string) error {
		return syncpb.ErrorWithReason(syncpb.ReasonQuotaExceeded, "quota exceeded: "+limit, map[string]string{"limit": limit})
	}
	for _, tc := range []struct {
		name string
		err  error
		want syncstatus.Reason
	}{
		{"spaces", quota("spaces"), syncstatus.ReasonStorageLimit},
		{"changes", fmt.Errorf("push: %w", quota("changes")), syncstatus.ReasonStorageLimit},
		{"blobs", quota("blobs"), syncstatus.ReasonStorageLimit},
		{"a quota kind from the blob client", errkind.Errorf("files", errkind.Quota, "full"), syncstatus.ReasonStorageLimit},
		{"sessions", quota("sessions"), syncstatus.ReasonSessionLimit},
		{"streams", quota("streams"), syncstatus.ReasonSessionLimit},
		{"the node's disk", syncpb.ErrorWithReason(syncpb.ReasonNoSpace, "the node's disk is full", nil), syncstatus.ReasonStorageLimit},
		{"rate limit", status.Error(codes.ResourceExhausted, "too many unauthenticated calls"), syncstatus.ReasonNone},
		{"fell behind", status.Error(codes.ResourceExhausted, "subscriber fell behind"), syncstatus.ReasonNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, msg := failureReason(tc.err)
			assert.Equal(t, tc.want, r)
			if r != syncstatus.ReasonNone {
				assert.NotEmpty(t, msg)
			}
		})
	}
	m := ModelSyncStatus(syncstatus.Status{Space: "s", State: syncstatus.Limited, Reason: syncstatus.ReasonStorageLimit, Detail: "quota exceeded: changes"})
	assert.Equal(t, "limited", m.Status)
	assert.Equal(t, "storageLimit", m.Error)
	assert.Equal(t, "quota exceeded: changes", m.ErrorMessage)
}
