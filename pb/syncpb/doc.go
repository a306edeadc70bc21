// Package syncpb holds the generated wire messages of the sync protocol (gogofaster).
// sync.proto holds the messages of the protocol (DESIGN §4) and no rules; node.proto, added
// by the node work, defines the Node gRPC service over them. Neither does I/O.
// Regenerate sync.proto from the repo root with:
//
//	protoc -I pb/syncpb -I /usr/include --gogofaster_out=plugins=grpc,paths=source_relative:pb/syncpb pb/syncpb/sync.proto
//
// Signed payloads are carried as exact bytes inside Signed envelopes; the rules that give
// them meaning (ids, signatures, validation) live in protocol/.
package syncpb
