// Package diff owns the range diff of head sync: two peers find which objects differ by
// comparing hashes of ranges of (object id, heads hash) summaries and recursing only into
// ranges that differ. It is pure: no I/O, no goroutines, no clock; the network round trips
// stay in the caller.
//
// Each object id maps to a position, the first 8 bytes of blake3(id), so ranges split
// evenly whatever the ids. A range is an inclusive [From, To] of positions. Its hash is the
// XOR of blake3(len(id) | id | heads hash) over its elements (with the count beside it), so
// a Set answers any range in O(log n) from prefix XORs.
//
// The responder calls Set.Ranges(request) and returns the results; a range holding at most
// the request's ElementLimit elements is answered with its elements. The initiator drives a
// Driver: Next() gives the ranges to send, Feed(results) compares them with its own set,
// keeps equal ranges, compares elements where the peer sent them, and splits the remaining
// differing ranges into Fanout sub-ranges for the next round. With the defaults (fanout 16,
// limit 16) finding a few differing objects among 100k takes about five round trips. A
// differing range where the initiator holds nothing is split by the peer's count instead,
// into ranges of about a thousand elements asked for whole: an empty device learns 100k ids
// in eleven round trips, not seventy. The first such request asks for 2,560 elements and
// each next one for twice as many, so that the first answer is small, and TakeWanted hands
// out what each round found, so that the caller downloads it while the sync goes on. A
// request never asks for more elements than a peer may send (the sum of its ElementLimits
// stays within protocol.MaxHeadSyncElements).
// RequestToPB / RangesFromPB / ResponseToPB / ResultsFromPB map to the syncpb HeadSync
// messages and enforce the size limits of package protocol.
package diff
