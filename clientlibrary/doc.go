// Package clientlibrary is Hearth's in-process command API: Command(method,
// bytes) → bytes, CommandAsync, and events delivered in order to a handler.
// The gRPC bridge (bindings) and the mobile facade are thin transports over it.
//
// It owns the dispatch table (generated from the ClientCommands service by
// internal/gendispatch), the sessions and their ordered event queues, and the
// translation between API messages and core's typed calls, including the
// mapping of core's errors to API error codes.
//
// It must never let a caller crash the host: undecodable input answers
// BAD_INPUT, an unknown method answers UNKNOWN_COMMAND, and a panic inside a
// handler is recovered into UNKNOWN_ERROR. It holds no storage of its own.
package clientlibrary
