package clientlibrary

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"

	"github.com/hearth-sync/hearth/pb"
)

// message is what every generated request and response implements: gogo's
// fast-path Marshal/Unmarshal plus proto.Message.
type message interface {
	Reset()
	String() string
	ProtoMessage()
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// command is one row of the generated dispatch table.
type command struct {
	newRequest    func() message
	errorResponse func(*pb.Rpc_Error) message
	call          func(context.Context, Handlers, message) message
}

// Methods lists every unary command the dispatcher knows, sorted.
func Methods() []string {
	out := make([]string, 0, len(commands))
	for name := range commands {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// dispatcher runs commands against a Handlers implementation.
type dispatcher struct {
	handlers Handlers
	log      *slog.Logger
}

// ErrUnknownCommand is returned by Invoke for a method the table lacks.
var ErrUnknownCommand = fmt.Errorf("unknown command")

// invoke runs one decoded request. A handler panic becomes UNKNOWN_ERROR.
func (d *dispatcher) invoke(ctx context.Context, method string, req message) (resp message, err error) {
	cmd, ok := commands[method]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownCommand, method)
	}
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("command panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = cmd.errorResponse(&pb.Rpc_Error{Code: pb.Rpc_Error_UNKNOWN_ERROR, Description: fmt.Sprintf("internal error in %s", method)})
		}
	}()
	resp = cmd.call(ctx, d.handlers, req)
	if resp == nil { // a handler bug, not the caller's fault
		resp = cmd.errorResponse(&pb.Rpc_Error{Code: pb.Rpc_Error_UNKNOWN_ERROR, Description: method + " returned no response"})
	}
	return resp, nil
}

// command decodes data, runs the method and encodes the response. It never
// fails: every failure is an encoded response with an error code.
func (d *dispatcher) command(ctx context.Context, method string, data []byte) []byte {
	cmd, ok := commands[method]
	if !ok {
		return encodeUnknownCommand(method)
	}
	req := cmd.newRequest()
	if err := req.Unmarshal(data); err != nil {
		return encode(cmd.errorResponse(&pb.Rpc_Error{Code: pb.Rpc_Error_BAD_INPUT, Description: fmt.Sprintf("%s: undecodable request: %v", method, err)}))
	}
	resp, err := d.invoke(ctx, method, req)
	if err != nil {
		return encodeUnknownCommand(method)
	}
	return encode(resp)
}

// encodeUnknownCommand answers a method that is not in the table. No response
// type is known, so it uses the shape every response shares: field 1 is the
// Error. Any response type decodes it.
func encodeUnknownCommand(method string) []byte {
	return encode(&pb.Rpc_App_GetVersion_Response{Error: &pb.Rpc_Error{
		Code:        pb.Rpc_Error_UNKNOWN_COMMAND,
		Description: fmt.Sprintf("unknown command %q", method),
	}})
}

// encodeClosed answers a call that arrives after Close.
func encodeClosed(method string) []byte {
	return encode(&pb.Rpc_App_GetVersion_Response{Error: &pb.Rpc_Error{
		Code:        pb.Rpc_Error_UNKNOWN_ERROR,
		Description: method + ": the library is closed",
	}})
}

func encode(m message) []byte {
	b, err := m.Marshal()
	if err != nil { // generated messages only fail on impossible states
		b, _ = (&pb.Rpc_App_GetVersion_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_UNKNOWN_ERROR, Description: "encoding the response: " + err.Error()}}).Marshal()
	}
	return b
}
