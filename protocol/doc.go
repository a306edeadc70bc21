// Package protocol holds the rules shared by Hearth clients and the sync node: the limits
// below, and in subpackages keys and ids (crypto), signed envelopes (signed), space headers
// (space), the ACL list (acl), the object change tree (objtree) and the range diff (diff).
//
// Everything under protocol is pure logic: every input is bytes or values, every output is
// a new state, bytes to persist or send, or an error. Protocol code never starts
// goroutines, touches disk or network, reads the clock (time is an input) or logs. It
// imports nothing of Hearth's but pb/syncpb.
package protocol

// Size limits. Receivers check them before decoding; builders refuse to exceed them.
const (
	// MaxMessageSize bounds any single wire message (a HeadUpdate, FetchResponse, AclUpdate ...).
	MaxMessageSize = 4 << 20
	// MaxChangeSize bounds one signed change (envelope bytes).
	MaxChangeSize = 1 << 20
	// MaxChangeOps bounds the ops in one change.
	MaxChangeOps = 10_000
	// MaxParents bounds the parents of one change.
	MaxParents = 256
	// MaxAclRecordSize bounds one signed ACL record (envelope bytes, before countersigning).
	MaxAclRecordSize = 256 << 10
	// MaxHeaderSize bounds a signed space header.
	MaxHeaderSize = 4 << 10
	// MaxValueDepth bounds list nesting in change values.
	MaxValueDepth = 16
	// MaxHeadSyncRanges bounds the ranges in one HeadSync request.
	MaxHeadSyncRanges = 1024
	// MaxHeadSyncElements bounds the elements in one HeadSync response.
	MaxHeadSyncElements = 16_384
	// MaxDigestSpaces bounds the spaces of one HeadDigests request, and of one
	// Watch request's add or remove list.
	MaxDigestSpaces = 1024
	// MaxFetchObjects bounds the objects of one FetchObjects request.
	MaxFetchObjects = 1024
	// MaxNameSize bounds a display name carried in a record (bytes of UTF-8).
	MaxNameSize = 256
)
