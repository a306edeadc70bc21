// Package mobile is Hearth's gomobile facade: the API an iOS or Android app
// calls through the bindings that `gomobile bind` (gobind) generates for it.
//
// It owns one middleware per process — StartWithConfig opens it with a sync
// node (an encoded hearth.MobileConfig) and a LogSink, Start opens it
// local-only, Stop closes it — the forwarding of the app lifecycle
// (Background, Foreground, NetworkChanged, MemoryPressure: lifecycle.go) and
// the translation of the in-process command API
// (clientlibrary) into what gomobile can bind: strings, byte slices, errors
// and callback interfaces. Requests, responses and events are the encoded
// protobuf messages of pb/ (service hearth.ClientCommands), exactly as on
// every other surface: Command("AccountCreate", <Rpc.Account.Create.Request>)
// answers an encoded Rpc.Account.Create.Response.
//
// It must never implement a command (every call goes to clientlibrary, so
// the mobile, Go and gRPC surfaces cannot drift), never export a type that
// gomobile cannot bind (`make mobile-check` runs gobind for Java and
// Objective-C over this package and fails on one), and never let a panic
// reach the host: panics in the host's callbacks and in the middleware are
// recovered and logged.
//
// The process-wide state below is deliberate: a mobile app links one copy of
// the middleware and calls it through static functions, so the facade holds
// the one running instance (the same pattern as any gomobile library). Tests
// and Go hosts that want several use clientlibrary directly.
package mobile

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hearth-sync/hearth/clientlibrary"
	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
)

// Callback receives the encoded response of one CommandAsync call.
// It runs on a goroutine of the middleware, not on the caller's thread.
// An error it returns (in Java, an exception it throws; in Swift, an error
// it throws) is logged; it cannot harm the middleware.
type Callback interface {
	OnResponse(response []byte) error
}

// EventHandler receives every event (an encoded hearth.Event), in order,
// from one goroutine of the middleware. An error it returns (an exception
// it throws) is logged and delivery goes on with the next event.
type EventHandler interface {
	OnEvent(event []byte) error
}

// errNotStarted is returned by Command when Start has not been called (or
// Stop has). Not exported: gomobile would bind a settable global.
var errNotStarted = errors.New("hearth is not started: call Start(dataDir) first")

// Version is the version reported by AppGetVersion. Builds may set it with
// -ldflags "-X github.com/hearth-sync/hearth/mobile.version=...".
func Version() string { return version }

var version = "dev"

// the one instance the static functions use.
var std = &instance{log: slog.Default()}

// Start opens the middleware on dataDir (created if missing; an app passes a
// directory inside its own storage) and selects the account last used there.
// It runs local-only: no sync node (StartWithConfig names one). It fails if
// the middleware is already running or if another process holds the data
// dir.
func Start(dataDir string) error {
	return std.open(options{core: core.Config{DataDir: dataDir, SelectLast: true}, level: slog.LevelInfo})
}

// Stop closes the middleware: running calls finish, the event handler gets
// no more events, the data dir is released. It is idempotent. It waits for
// callbacks that are running, so never call it from a Callback or an
// EventHandler.
func Stop() error { return std.stop() }

// IsStarted reports whether the middleware is running.
func IsStarted() bool { return std.running() != nil }

// Command runs one command and returns its encoded response. Every failure of
// the command itself is inside the response (its Error field); the error is
// non-nil only when the middleware is not started.
func Command(method string, data []byte) ([]byte, error) { return std.command(method, data) }

// CommandAsync runs one command on a middleware goroutine and passes the
// encoded response to cb (which may be nil). When the middleware is not
// started, cb gets a response whose error says so.
func CommandAsync(method string, data []byte, cb Callback) { std.commandAsync(method, data, cb) }

// SetEventHandler sets the receiver of events; nil stops delivery. It may be
// called before Start: the handler applies to the middleware Start opens.
func SetEventHandler(h EventHandler) { std.setEventHandler(h) }

// instance is the facade's state, a type so that tests can run several.
type instance struct {
	log  *slog.Logger                // the host's default logger (stderr)
	runL atomic.Pointer[slog.Logger] // the running middleware's logger; nil: log

	mu         sync.Mutex // guards run, handler, background
	run        *run
	handler    EventHandler
	background bool // Background until Foreground (lifecycle.go)

	lifeMu sync.Mutex // serialises Background and Foreground, so the last call wins
}

// run is one Start..Stop of the middleware.
type run struct {
	lib   *clientlibrary.Library
	log   *slog.Logger
	sink  *sinkWriter    // nil without a LogSink
	calls sync.WaitGroup // synchronous Commands in flight; Stop waits for them
}

// logger is where the facade logs: the running middleware's logger (its log
// sink), else the host's default.
func (m *instance) logger() *slog.Logger {
	if l := m.runL.Load(); l != nil {
		return l
	}
	return m.log
}

func (m *instance) running() *run {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.run
}

func (m *instance) start(dataDir string) error {
	return m.open(options{core: core.Config{DataDir: dataDir, SelectLast: true}, level: slog.LevelInfo})
}

// options is what a start call configures (config.go).
type options struct {
	core  core.Config // Logger and Events are set by open
	sink  LogSink     // nil: log to the host's default logger
	level slog.Level
}

func (m *instance) open(o options) (err error) {
	defer m.recoverInto(&err, "start")
	if o.core.DataDir == "" {
		return errors.New("start: the data dir is empty")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run != nil {
		return fmt.Errorf("start: hearth is already running on %s: call Stop first", m.run.lib.App().DataDir())
	}
	r := &run{}
	log := slog.New(leveled{Handler: m.log.Handler(), level: o.level})
	if o.sink != nil {
		r.sink = newSinkWriter(o.sink, m.log)
		log = slog.New(newSinkHandler(r.sink, o.level))
	}
	o.core.Background = m.background
	lib, err := clientlibrary.New(clientlibrary.Config{Core: o.core, Version: version, Logger: log})
	if err != nil {
		if r.sink != nil {
			r.sink.close()
		}
		return fmt.Errorf("start: %s", errkind.Message(err))
	}
	r.lib, r.log = lib, log
	m.run = r
	m.runL.Store(log)
	if m.handler != nil {
		lib.SetEventHandler(m.deliverTo(m.handler))
	}
	return nil
}

func (m *instance) stop() (err error) {
	defer m.recoverInto(&err, "stop")
	// The lock is not held while closing: a callback that calls Command
	// during Stop gets errNotStarted instead of a deadlock.
	m.mu.Lock()
	r := m.run
	m.run = nil
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	r.calls.Wait()
	err = r.lib.Close()
	// The facade's own lines (a callback failing during Close) go to the
	// sink until here, then to the host's logger.
	m.runL.CompareAndSwap(r.log, nil)
	if r.sink != nil {
		r.sink.close() // delivers what Close logged
	}
	if err != nil {
		return fmt.Errorf("stop: %s", errkind.Message(err))
	}
	return nil
}

// acquire returns the running middleware with one call registered on it,
// or nil. The caller must call r.calls.Done.
func (m *instance) acquire() *run {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run != nil {
		m.run.calls.Add(1) // under mu, so never after stop's Wait began
	}
	return m.run
}

func (m *instance) command(method string, data []byte) (resp []byte, err error) {
	defer m.recoverInto(&err, method)
	r := m.acquire()
	if r == nil {
		return notStartedResponse(method), errNotStarted
	}
	defer r.calls.Done()
	return r.lib.Command(method, data), nil
}

func (m *instance) commandAsync(method string, data []byte, cb Callback) {
	defer m.recoverInto(nil, method)
	respond := func(resp []byte) {
		if cb != nil {
			m.safely("a CommandAsync callback", func() error { return cb.OnResponse(resp) })
		}
	}
	r := m.acquire()
	if r == nil {
		respond(notStartedResponse(method))
		return
	}
	defer r.calls.Done()
	// The library tracks the goroutine it starts: Stop's Close waits for it.
	r.lib.CommandAsync(method, data, respond)
}

func (m *instance) setEventHandler(h EventHandler) {
	defer m.recoverInto(nil, "set event handler")
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handler = h
	if m.run == nil {
		return
	}
	if h == nil {
		m.run.lib.SetEventHandler(nil)
		return
	}
	m.run.lib.SetEventHandler(m.deliverTo(h))
}

func (m *instance) deliverTo(h EventHandler) func([]byte) {
	return func(ev []byte) {
		m.safely("the event handler", func() error { return h.OnEvent(ev) })
	}
}

// safely runs a host callback; its error or panic is logged, never
// propagated.
func (m *instance) safely(what string, fn func() error) {
	defer func() {
		if r := recover(); r != nil {
			m.logger().Error("host callback panicked", "callback", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	if err := fn(); err != nil {
		m.logger().Warn("host callback failed", "callback", what, "err", err)
	}
}

// recoverInto turns a panic in the facade into an error (or a log line when
// the call has no error to return), so none reaches the host.
func (m *instance) recoverInto(err *error, what string) {
	r := recover()
	if r == nil {
		return
	}
	m.logger().Error("mobile facade panicked", "call", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if err != nil {
		*err = fmt.Errorf("%s: internal error: %v", what, r)
	}
}

// notStartedResponse answers a call made while the middleware is stopped. It
// uses the shape every response shares (field 1 is the Error), so it decodes
// as the method's own response type.
func notStartedResponse(method string) []byte {
	b, _ := (&pb.Rpc_App_GetVersion_Response{Error: &pb.Rpc_Error{
		Code:        pb.Rpc_Error_UNKNOWN_ERROR,
		Description: method + ": " + errNotStarted.Error(),
	}}).Marshal()
	return b
}
