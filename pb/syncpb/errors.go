package syncpb

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Refusals a node answers with a machine-readable reason: gRPC RESOURCE_EXHAUSTED with an
// ErrorInfo detail (domain ErrorDomain), so that a device tells a quota from a rate limit
// or a slow stream, which share the code. Metadata "limit" names the limit (a
// node/store.QuotaKind word, "sessions" or "streams"); "used", "max" and "size" carry the
// numbers when there are some.
const (
	ErrorDomain = "hearth.sync"
	// ReasonQuotaExceeded: the write or session would take an identity or a space over a
	// limit of the node.
	ReasonQuotaExceeded = "QUOTA_EXCEEDED"
	// ReasonNoSpace: the node's disk is full.
	ReasonNoSpace = "NO_SPACE"
)

// ErrorWithReason is a RESOURCE_EXHAUSTED status carrying reason and meta.
func ErrorWithReason(reason, msg string, meta map[string]string) error {
	st := status.New(codes.ResourceExhausted, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta}); err == nil {
		st = d
	}
	return st.Err()
}

// ReasonOf returns the reason and metadata of a node's refusal in err's chain ("" when
// err carries none).
func ReasonOf(err error) (reason string, meta map[string]string) {
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return "", nil
	}
	for _, d := range se.GRPCStatus().Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info.GetReason(), info.GetMetadata()
		}
	}
	return "", nil
}
