package bindings

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/clientlibrary"
	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/grpccodec"
)

func TestMain(m *testing.M) {
	// grpc-web imports github.com/desertbit/timer, whose init starts one
	// process-wide goroutine: not ours, and not a leak per server.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/desertbit/timer.timerRoutine"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	lib  *clientlibrary.Library
	srv  *Server
	conn *grpc.ClientConn
	api  pb.ClientCommandsClient
}

func start(t *testing.T) *fixture {
	t.Helper()
	lib, err := clientlibrary.New(clientlibrary.Config{Core: core.Config{DataDir: t.TempDir()}, Logger: quiet})
	require.NoError(t, err)
	srv, err := Start(Config{GRPCAddr: "127.0.0.1:0", GRPCWebAddr: "127.0.0.1:0", Logger: quiet}, lib)
	require.NoError(t, err)
	conn, err := grpc.NewClient(srv.GRPCAddr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())))
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
		require.NoError(t, lib.Close())
	})
	return &fixture{lib: lib, srv: srv, conn: conn, api: pb.NewClientCommandsClient(conn)}
}

func withToken(token string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	return metadata.AppendToOutgoingContext(ctx, TokenKey, token), cancel
}

func TestTokenRequired(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := f.api.AccountShow(ctx, &pb.Rpc_Account_Show_Request{})
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "no token: %v", err)

	bad, cancel2 := withToken("not-the-token")
	defer cancel2()
	_, err = f.api.AccountShow(bad, &pb.Rpc_Account_Show_Request{})
	assert.Equal(t, codes.Unauthenticated, status.Code(err))

	// Reflection needs the token too.
	stream, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(bad)
	if err == nil {
		// Send may see io.EOF once the server refused the stream; the
		// refusal's status is what Recv returns.
		_ = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = stream.Recv()
	}
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "reflection: %v", err)

	good, cancel3 := withToken(f.lib.RootToken())
	defer cancel3()
	resp, err := f.api.AccountShow(good, &pb.Rpc_Account_Show_Request{})
	require.NoError(t, err)
	assert.Equal(t, pb.Rpc_Error_NO_ACCOUNT, resp.Error.GetCode())
}

func TestReflectionDescribesGogoService(t *testing.T) {
	f := start(t)
	ctx, cancel := withToken(f.lib.RootToken())
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(f.conn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.Contains(t, names, "hearth.ClientCommands")

	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "hearth.ClientCommands"}}))
	resp, err = stream.Recv()
	require.NoError(t, err)
	require.Nil(t, resp.GetErrorResponse(), "reflection can describe the gogo service")
	assert.NotEmpty(t, resp.GetFileDescriptorResponse().GetFileDescriptorProto())
	require.NoError(t, stream.CloseSend())
}

func TestSessionCreateAndEventStream(t *testing.T) {
	f := start(t)
	plain, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Session creation needs no metadata, but the request must carry the root token.
	refused, err := f.api.SessionCreate(plain, &pb.Rpc_Session_Create_Request{Token: "guess"})
	require.NoError(t, err)
	assert.Equal(t, pb.Rpc_Error_UNAUTHENTICATED, refused.Error.GetCode())
	created, err := f.api.SessionCreate(plain, &pb.Rpc_Session_Create_Request{Token: f.lib.RootToken(), AppName: "test"})
	require.NoError(t, err)
	require.Nil(t, created.Error)
	require.NotEmpty(t, created.Token)

	ctx, cancel2 := withToken(created.Token)
	defer cancel2()
	stream, err := f.api.ListenSessionEvents(ctx, &pb.StreamRequest{})
	require.NoError(t, err)
	// The stream is open once the first event arrives; make events now.
	var want []string
	for _, name := range []string{"a", "b", "c"} {
		resp, err := f.api.AccountCreate(ctx, &pb.Rpc_Account_Create_Request{Name: name})
		require.NoError(t, err)
		require.Nil(t, resp.Error)
		want = append(want, name)
	}
	var got []string
	for len(got) < len(want) {
		ev, err := stream.Recv()
		require.NoError(t, err)
		for _, m := range ev.Messages {
			if s := m.GetAccountShow(); s != nil {
				got = append(got, s.Account.Name)
			}
		}
	}
	assert.Equal(t, want, got, "events arrive in command order")

	// Closing the session ends its stream cleanly.
	closed, err := f.api.SessionClose(ctx, &pb.Rpc_Session_Close_Request{})
	require.NoError(t, err)
	require.Nil(t, closed.Error)
	_, err = stream.Recv()
	assert.Equal(t, io.EOF, err)
	_, err = f.api.AccountShow(ctx, &pb.Rpc_Account_Show_Request{})
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "a closed session's token no longer works")
}

func TestCloseEndsOpenStreams(t *testing.T) {
	lib, err := clientlibrary.New(clientlibrary.Config{Core: core.Config{DataDir: t.TempDir()}, Logger: quiet})
	require.NoError(t, err)
	defer lib.Close()
	srv, err := Start(Config{GRPCAddr: "127.0.0.1:0", GRPCWebAddr: "127.0.0.1:0", Logger: quiet}, lib)
	require.NoError(t, err)
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := withToken(lib.RootToken())
	defer cancel()
	stream, err := pb.NewClientCommandsClient(conn).ListenSessionEvents(ctx, &pb.StreamRequest{})
	require.NoError(t, err)
	_, err = pb.NewClientCommandsClient(conn).AppGetVersion(ctx, &pb.Rpc_App_GetVersion_Request{})
	require.NoError(t, err) // the stream is registered by now

	closeCtx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	began := time.Now()
	srv.Close(closeCtx)
	assert.Less(t, time.Since(began), 5*time.Second)
	_, err = stream.Recv()
	assert.Error(t, err, "the stream ends when the server closes")
}

// grpcWebCall makes one unary gRPC-Web call over plain HTTP.
func grpcWebCall(t *testing.T, addr, origin, token, method string, req []byte) (*http.Response, []byte) {
	t.Helper()
	frame := make([]byte, 5+len(req))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(req)))
	copy(frame[5:], req)
	r, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hearth.ClientCommands/"+method, bytes.NewReader(frame))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/grpc-web+proto")
	r.Header.Set("X-Grpc-Web", "1")
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if token != "" {
		r.Header.Set(TokenKey, token)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func TestGRPCWeb(t *testing.T) {
	f := start(t)
	addr := f.srv.GRPCWebAddr()
	req, _ := (&pb.Rpc_App_GetVersion_Request{}).Marshal()

	resp, body := grpcWebCall(t, addr, "http://localhost:5173", f.lib.RootToken(), "AppGetVersion", req)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Greater(t, len(body), 5)
	require.Equal(t, byte(0), body[0], "first frame is data")
	n := binary.BigEndian.Uint32(body[1:5])
	var v pb.Rpc_App_GetVersion_Response
	require.NoError(t, v.Unmarshal(body[5:5+n]))
	assert.Equal(t, "dev", v.Version)
	assert.Contains(t, string(body[5+n:]), "grpc-status: 0")

	// No token: the call is refused with Unauthenticated (16), in the
	// headers of a trailers-only response or in the trailer frame.
	resp, body = grpcWebCall(t, addr, "http://localhost:5173", "", "AppGetVersion", req)
	statusText := "grpc-status: " + resp.Header.Get("Grpc-Status") + " " + strings.ToLower(string(body))
	assert.Contains(t, statusText, "grpc-status: 16")

	// A page from a disallowed origin is refused outright.
	resp, _ = grpcWebCall(t, addr, "http://evil.example", f.lib.RootToken(), "AppGetVersion", req)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	for origin, allowed := range map[string]bool{"http://localhost:3000": true, "http://evil.example": false} {
		pre, err := http.NewRequest(http.MethodOptions, "http://"+addr+"/hearth.ClientCommands/AppGetVersion", nil)
		require.NoError(t, err)
		pre.Header.Set("Origin", origin)
		pre.Header.Set("Access-Control-Request-Method", "POST")
		pre.Header.Set("Access-Control-Request-Headers", "content-type,x-grpc-web,token")
		presp, err := http.DefaultClient.Do(pre)
		require.NoError(t, err)
		presp.Body.Close()
		if allowed {
			assert.Less(t, presp.StatusCode, 300, origin)
			assert.Equal(t, origin, presp.Header.Get("Access-Control-Allow-Origin"))
		} else {
			assert.GreaterOrEqual(t, presp.StatusCode, 400, origin)
			assert.Empty(t, presp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	s := &Server{origins: []string{"http://localhost:*", "app://hearth", "https://example.com:8443"}}
	for origin, want := range map[string]bool{
		"http://localhost":          true,
		"http://localhost:1234":     true,
		"https://localhost:1234":    false,
		"http://localhost.evil.com": false,
		"app://hearth":              true,
		"https://example.com:8443":  true,
		"https://example.com":       false,
		"null":                      false,
		"":                          false,
	} {
		assert.Equal(t, want, s.originAllowed(origin), origin)
	}
}
