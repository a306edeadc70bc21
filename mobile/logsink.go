package mobile

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
)

// LogSink receives the middleware's log lines, so that an app can forward
// them to Logcat or os_log. level is one of LogDebug, LogInfo, LogWarn and
// LogError; line is the message followed by its attributes as key=value
// (no time, no level: the platform's log adds both). Lines arrive in order
// from one goroutine of the middleware; logging never waits for the sink:
// when it falls 1,024 lines behind, lines are dropped and the next line
// delivered says how many. An error it returns (an exception it throws) and
// a panic are written to stderr, not logged again.
type LogSink interface {
	OnLog(level int32, line string) error
}

// The levels a LogSink receives (log/slog's values).
const (
	LogDebug = int32(slog.LevelDebug)
	LogInfo  = int32(slog.LevelInfo)
	LogWarn  = int32(slog.LevelWarn)
	LogError = int32(slog.LevelError)
)

// sinkQueue is how many lines may wait for the sink before lines are dropped.
const sinkQueue = 1024

type logLine struct {
	level int32
	line  string
}

// sinkWriter delivers log lines to a LogSink from one goroutine. It is owned
// by one run: start with newSinkWriter, stop with close (which delivers what
// is queued first).
type sinkWriter struct {
	sink     LogSink
	fallback *slog.Logger // where the sink's own failures go
	q        chan logLine
	dropped  atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newSinkWriter(sink LogSink, fallback *slog.Logger) *sinkWriter {
	w := &sinkWriter{sink: sink, fallback: fallback, q: make(chan logLine, sinkQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// put queues a line; it never blocks (a full queue drops the line) and is
// safe after close (the line is dropped).
func (w *sinkWriter) put(l logLine) {
	select {
	case <-w.stop:
		return
	default:
	}
	select {
	case w.q <- l:
	default:
		w.dropped.Add(1)
	}
}

func (w *sinkWriter) run() {
	defer close(w.done)
	for {
		select {
		case l := <-w.q:
			w.deliver(l)
		case <-w.stop:
			for {
				select {
				case l := <-w.q:
					w.deliver(l)
				default:
					return
				}
			}
		}
	}
}

func (w *sinkWriter) deliver(l logLine) {
	if n := w.dropped.Swap(0); n > 0 {
		w.call(logLine{level: LogWarn, line: fmt.Sprintf("%d log lines dropped: the log sink fell behind", n)})
	}
	w.call(l)
}

// call runs the host's sink; its error or panic goes to the fallback logger.
func (w *sinkWriter) call(l logLine) {
	defer func() {
		if r := recover(); r != nil {
			w.fallback.Error("the log sink panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	if err := w.sink.OnLog(l.level, l.line); err != nil {
		w.fallback.Warn("the log sink failed", "err", err)
	}
}

// close delivers the queued lines and stops the goroutine. Idempotent.
func (w *sinkWriter) close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// sinkHandler is a slog.Handler that formats each record as one text line
// (message, then key=value attributes) and queues it on a sinkWriter.
type sinkHandler struct {
	w     *sinkWriter
	level slog.Leveler
	fmt   *lineFormat // shared by the handlers derived with WithAttrs / WithGroup
	inner slog.Handler
}

// lineFormat is the buffer a slog.TextHandler formats into.
type lineFormat struct {
	mu  sync.Mutex // guards buf, written by inner handlers during Handle
	buf bytes.Buffer
}

func (f *lineFormat) Write(p []byte) (int, error) { return f.buf.Write(p) }

func newSinkHandler(w *sinkWriter, level slog.Leveler) *sinkHandler {
	f := &lineFormat{}
	inner := slog.NewTextHandler(f, &slog.HandlerOptions{
		Level: slog.LevelDebug, // Enabled filters
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{} // the platform's log has time and level; Handle puts the message first, unquoted
			}
			return a
		},
	})
	return &sinkHandler{w: w, level: level, fmt: f, inner: inner}
}

func (h *sinkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *sinkHandler) Handle(ctx context.Context, r slog.Record) error {
	h.fmt.mu.Lock()
	h.fmt.buf.Reset()
	err := h.inner.Handle(ctx, r)
	attrs := strings.TrimSuffix(h.fmt.buf.String(), "\n")
	h.fmt.mu.Unlock()
	if err != nil {
		return err
	}
	line := r.Message
	if attrs != "" {
		line += " " + attrs
	}
	h.w.put(logLine{level: int32(r.Level), line: line})
	return nil
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sinkHandler{w: h.w, level: h.level, fmt: h.fmt, inner: h.inner.WithAttrs(as)}
}

func (h *sinkHandler) WithGroup(name string) slog.Handler {
	return &sinkHandler{w: h.w, level: h.level, fmt: h.fmt, inner: h.inner.WithGroup(name)}
}
