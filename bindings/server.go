package bindings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/improbable-eng/grpc-web/go/grpcweb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/clientlibrary"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/grpccodec"
)

// Default addresses (DESIGN §11).
const (
	DefaultGRPCAddr    = "127.0.0.1:31007"
	DefaultGRPCWebAddr = "127.0.0.1:31008"
)

// TokenKey is the metadata key that carries the root or a session token.
const TokenKey = "token"

// sessionCreateMethod is the one method callable without a token: it is
// authenticated by the root token in its request instead.
const sessionCreateMethod = "/hearth.ClientCommands/SessionCreate"

// Config configures the bridge.
type Config struct {
	GRPCAddr    string // "" means DefaultGRPCAddr; port 0 picks a free port
	GRPCWebAddr string // "" means DefaultGRPCWebAddr
	// AllowedOrigins lists the origins gRPC-Web accepts, e.g.
	// "http://localhost:3000"; a port of "*" matches any port
	// ("http://localhost:*"). Requests with another Origin are refused.
	AllowedOrigins []string
	Logger         *slog.Logger
}

// DefaultOrigins is the allowlist when none is configured: pages served from
// loopback on any port.
var DefaultOrigins = []string{"http://localhost:*", "http://127.0.0.1:*"}

// Server is a running bridge.
type Server struct {
	lib     *clientlibrary.Library
	log     *slog.Logger
	grpc    *grpc.Server
	web     *http.Server
	grpcLn  net.Listener
	webLn   net.Listener
	origins []string

	stop      chan struct{} // closed by Close: ends every event stream
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start listens on both addresses and serves until Close.
func Start(cfg Config, lib *clientlibrary.Library) (*Server, error) {
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = DefaultGRPCAddr
	}
	if cfg.GRPCWebAddr == "" {
		cfg.GRPCWebAddr = DefaultGRPCWebAddr
	}
	if cfg.AllowedOrigins == nil {
		cfg.AllowedOrigins = DefaultOrigins
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := grpccodec.RegisterReflection("commands.proto"); err != nil {
		return nil, err
	}
	s := &Server{lib: lib, log: cfg.Logger, origins: cfg.AllowedOrigins, stop: make(chan struct{})}
	s.grpc = grpc.NewServer(
		grpc.ForceServerCodecV2(grpccodec.Codec()),
		grpc.ChainUnaryInterceptor(s.unaryAuth),
		grpc.ChainStreamInterceptor(s.streamAuth),
	)
	pb.RegisterClientCommandsServer(s.grpc, &commandServer{s: s})
	reflection.Register(s.grpc)

	var err error
	if s.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen grpc %s: %w", cfg.GRPCAddr, err)
	}
	if s.webLn, err = net.Listen("tcp", cfg.GRPCWebAddr); err != nil {
		s.grpcLn.Close()
		return nil, fmt.Errorf("listen grpc-web %s: %w", cfg.GRPCWebAddr, err)
	}
	wrapped := grpcweb.WrapServer(s.grpc,
		grpcweb.WithOriginFunc(s.originAllowed),
		grpcweb.WithAllowedRequestHeaders([]string{TokenKey, "x-grpc-web", "content-type", "x-user-agent", "grpc-timeout"}),
	)
	s.web = &http.Server{Handler: s.webHandler(wrapped), ReadHeaderTimeout: 10 * time.Second}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.web.Serve(s.webLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("grpc-web server stopped", "err", err)
		}
	}()
	return s, nil
}

// GRPCAddr is the address gRPC listens on.
func (s *Server) GRPCAddr() string { return s.grpcLn.Addr().String() }

// GRPCWebAddr is the address gRPC-Web listens on.
func (s *Server) GRPCWebAddr() string { return s.webLn.Addr().String() }

// Close stops both servers: event streams end at once, calls in flight get
// until ctx's deadline to finish, then are cut. It is idempotent.
func (s *Server) Close(ctx context.Context) {
	s.closeOnce.Do(func() {
		close(s.stop)
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
			<-done
		}
		if err := s.web.Shutdown(ctx); err != nil {
			s.web.Close()
		}
		s.wg.Wait()
	})
}

// webHandler serves gRPC-Web and refuses any request whose Origin is not
// on the allowlist (the library's origin func alone covers only CORS).
func (s *Server) webHandler(wrapped *grpcweb.WrappedGrpcServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		if wrapped.IsGrpcWebRequest(r) || wrapped.IsAcceptableGrpcCorsRequest(r) {
			wrapped.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

func (s *Server) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	for _, allowed := range s.origins {
		a, err := url.Parse(strings.Replace(allowed, ":*", "", 1))
		if err != nil {
			continue
		}
		anyPort := strings.HasSuffix(allowed, ":*")
		if a.Scheme != u.Scheme || a.Hostname() != u.Hostname() {
			continue
		}
		if anyPort || a.Port() == u.Port() {
			return true
		}
	}
	return false
}

// authenticate resolves the token in ctx's metadata to a caller.
func (s *Server) authenticate(ctx context.Context) (clientlibrary.Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tokens := md.Get(TokenKey)
	if len(tokens) != 1 || tokens[0] == "" {
		return clientlibrary.Caller{}, status.Error(codes.Unauthenticated, "unauthenticated: metadata \"token\" is missing")
	}
	if s.lib.IsRootToken(tokens[0]) {
		return clientlibrary.Caller{Root: true}, nil
	}
	if sess, ok := s.lib.Sessions().Lookup(tokens[0]); ok {
		return clientlibrary.Caller{Session: sess}, nil
	}
	return clientlibrary.Caller{}, status.Error(codes.Unauthenticated, "unauthenticated: the token is wrong or its session has ended")
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	caller, err := s.authenticate(ctx)
	if err != nil {
		if info.FullMethod != sessionCreateMethod {
			return nil, err
		}
		caller = clientlibrary.Caller{} // the handler checks the root token in the request
	}
	return handler(clientlibrary.WithCaller(ctx, caller), req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	caller, err := s.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &callerStream{ServerStream: ss, ctx: clientlibrary.WithCaller(ss.Context(), caller)})
}

type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *callerStream) Context() context.Context { return c.ctx }

// commandServer implements pb.ClientCommandsServer; the unary methods are
// generated (commands_gen.go).
type commandServer struct{ s *Server }

func (c *commandServer) invoke(ctx context.Context, method string, req clientlibrary.Message) (clientlibrary.Message, error) {
	resp, err := c.s.lib.Invoke(ctx, method, req)
	if err != nil {
		return nil, status.Error(codes.Unimplemented, err.Error())
	}
	return resp, nil
}

// ListenSessionEvents streams one session's events, in order, from this
// goroutine only (the stream's one writer). The session is named by the
// request's token or the metadata token; a root-token caller without a
// session gets a session for the life of the stream.
func (c *commandServer) ListenSessionEvents(req *pb.StreamRequest, stream pb.ClientCommands_ListenSessionEventsServer) error {
	ctx := stream.Context()
	caller := clientlibrary.CallerFrom(ctx)
	sess := caller.Session
	if req.Token != "" {
		found, ok := c.s.lib.Sessions().Lookup(req.Token)
		if !ok {
			return status.Error(codes.Unauthenticated, "unauthenticated: no session with that token")
		}
		if !caller.Root && found != sess {
			return status.Error(codes.PermissionDenied, "a session may listen only to itself")
		}
		sess = found
	}
	if sess == nil {
		sess = c.s.lib.NewSession("stream")
		defer c.s.lib.Sessions().Close(sess.Token())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends Next when the server stops; exits with the stream
		select {
		case <-c.s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		ev, err := sess.Next(ctx)
		switch {
		case errors.Is(err, clientlibrary.ErrSessionLagged):
			// The session is over: its subscriptions and listeners end now,
			// not when the client gets round to closing it.
			c.s.lib.Sessions().Close(sess.Token())
			return status.Error(codes.ResourceExhausted, err.Error())
		case errors.Is(err, clientlibrary.ErrSessionClosed):
			return nil
		case err != nil:
			if ctx.Err() != nil && stream.Context().Err() == nil {
				return status.Error(codes.Unavailable, "the daemon is shutting down")
			}
			return status.FromContextError(err).Err()
		}
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
}
