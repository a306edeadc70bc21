package clientlibrary

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"sync"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/pb"
)

// Message is a generated request or response.
type Message = message

// Config configures a Library.
type Config struct {
	Core    core.Config
	Version string
	// RootToken authenticates session creation and trusted callers (the CLI
	// reads it from serve.json). Empty: a random one is made.
	RootToken string
	Logger    *slog.Logger
}

// Library is one running middleware behind the command API.
type Library struct {
	app       *core.App
	hub       *Hub
	d         dispatcher
	rootToken string
	version   string
	log       *slog.Logger

	ctx    context.Context // cancelled by Close; bounds CommandAsync calls
	cancel context.CancelFunc
	wg     sync.WaitGroup // CommandAsync calls and the event handler loop

	asyncMu sync.Mutex // guards closed against wg.Add racing Close's wg.Wait
	closed  bool

	evMu      sync.Mutex // guards evHandler, evSession
	evHandler func([]byte)
	evSession *Session

	closeOnce sync.Once
	closeErr  error
}

// New opens the middleware on cfg.Core.DataDir.
func New(cfg Config) (*Library, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg.Core.Logger = log
	hub := newHub()
	cfg.Core.Events = hub.Send
	app, err := core.Open(cfg.Core)
	if err != nil {
		return nil, err
	}
	l := &Library{
		app:       app,
		hub:       hub,
		rootToken: cfg.RootToken,
		version:   cfg.Version,
		log:       log,
	}
	if l.rootToken == "" {
		l.rootToken = newToken()
	}
	if l.version == "" {
		l.version = "dev"
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.d = dispatcher{handlers: &api{lib: l}, log: log}
	return l, nil
}

// App is the middleware core this library serves.
func (l *Library) App() *core.App { return l.app }

// RootToken is the secret that authenticates session creation.
func (l *Library) RootToken() string { return l.rootToken }

// Sessions is the session hub, for transports.
func (l *Library) Sessions() *Hub { return l.hub }

// NewSession opens a session: it receives every event, and the sync status
// of every loaded space once, then each change.
func (l *Library) NewSession(app string) *Session {
	s := l.hub.Create(app)
	s.addCleanup(l.app.AddStatusListener(s.push))
	return s
}

// IsRootToken reports whether token is the root token (constant time).
func (l *Library) IsRootToken(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(l.rootToken)) == 1
}

// Command runs method on the encoded request and returns the encoded
// response. It never panics and never returns nil.
func (l *Library) Command(method string, data []byte) []byte {
	return l.d.command(WithCaller(l.ctx, Caller{Root: true}), method, data)
}

// CommandAsync runs Command on its own goroutine and calls cb with the
// response. Calls still running when the library closes finish first.
func (l *Library) CommandAsync(method string, data []byte, cb func([]byte)) {
	if !l.track() {
		if cb != nil {
			cb(encodeClosed(method))
		}
		return
	}
	go func() {
		defer l.wg.Done()
		resp := l.Command(method, data)
		if cb != nil {
			cb(resp)
		}
	}()
}

// Invoke runs a decoded request, for transports that decode themselves (the
// gRPC bridge). ctx carries the caller (WithCaller). The error is only
// ErrUnknownCommand; every other failure is inside the response.
func (l *Library) Invoke(ctx context.Context, method string, req Message) (Message, error) {
	return l.d.invoke(ctx, method, req)
}

// SetEventHandler delivers every event, encoded, to fn, in order, from one
// goroutine. A nil fn stops delivery. Replacing the handler keeps the queue.
func (l *Library) SetEventHandler(fn func([]byte)) {
	l.evMu.Lock()
	defer l.evMu.Unlock()
	l.evHandler = fn
	if fn == nil || l.evSession != nil {
		return
	}
	if !l.track() {
		return
	}
	s := l.NewSession("in-process")
	l.evSession = s
	go func() {
		defer l.wg.Done()
		l.deliverEvents(s)
	}()
}

func (l *Library) deliverEvents(s *Session) {
	for {
		ev, err := s.Next(l.ctx)
		if err != nil {
			if errors.Is(err, ErrSessionLagged) {
				l.log.Warn("in-process event handler fell behind; events were dropped: its subscriptions ended (SetEventHandler starts a new session)")
				l.hub.Close(s.token)
				l.evMu.Lock()
				if l.evSession == s {
					l.evSession = nil
				}
				l.evMu.Unlock()
			}
			return
		}
		b, err := ev.Marshal()
		if err != nil {
			l.log.Error("encoding an event", "err", err)
			continue
		}
		l.evMu.Lock()
		fn := l.evHandler
		l.evMu.Unlock()
		if fn != nil {
			fn(b)
		}
	}
}

// Close stops the library: sessions end, running calls finish, the core
// closes. It is idempotent.
func (l *Library) Close() error {
	l.closeOnce.Do(func() {
		l.asyncMu.Lock()
		l.closed = true
		l.asyncMu.Unlock()
		l.hub.closeAll()
		l.cancel()
		l.wg.Wait()
		l.closeErr = l.app.Close()
	})
	return l.closeErr
}

// track registers one goroutine with the library, or reports that it closed.
func (l *Library) track() bool {
	l.asyncMu.Lock()
	defer l.asyncMu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

// emit sends one message to every session.
func (l *Library) emit(contextID string, msgs ...*pb.Event_Message) {
	l.hub.Send(&pb.Event{Messages: msgs, ContextId: contextID})
}

// Caller says who runs a command: the root (in-process host, CLI holding the
// root token) or one session.
type Caller struct {
	Root    bool
	Session *Session
}

type callerKey struct{}

// WithCaller attaches the caller to ctx.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller attached to ctx (the zero Caller if none).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}
