package mobile

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/pb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait is generous: a race build on a busy 2-core machine. Never a timing assertion.
const wait = 60 * time.Second

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newInstance returns a facade instance and a data dir for it. The dir is
// made first, so that its removal at cleanup runs after the instance stopped
// (cleanups run last-registered first).
func newInstance(t *testing.T) (*instance, *logBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	logs := &logBuffer{}
	m := &instance{log: slog.New(slog.NewTextHandler(logs, nil))}
	t.Cleanup(func() { require.NoError(t, m.stop()) })
	return m, logs, dir
}

// events is an EventHandler that records the events' kinds and ids.
type events struct {
	ch     chan string
	onEach func(n int) error // optional, called after recording event n (0-based)
	n      int
}

func newEvents() *events { return &events{ch: make(chan string, 64)} }

func (e *events) OnEvent(b []byte) error {
	var ev pb.Event
	if err := ev.Unmarshal(b); err != nil {
		return err
	}
	for _, m := range ev.Messages {
		switch v := m.Value.(type) {
		case *pb.Event_Message_AccountShow:
			e.ch <- "accountShow:" + v.AccountShow.Account.Id
		case *pb.Event_Message_AccountStopped:
			e.ch <- "accountStopped:" + v.AccountStopped.AccountId
		default:
			e.ch <- "other"
		}
	}
	n := e.n
	e.n++
	if e.onEach != nil {
		return e.onEach(n)
	}
	return nil
}

func (e *events) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-e.ch:
		return s
	case <-time.After(wait):
		t.Fatal("no event")
		return ""
	}
}

// callback is a Callback that hands the response to a channel.
type callback struct {
	ch    chan []byte
	after func() error
}

func (c *callback) OnResponse(b []byte) error {
	c.ch <- b
	if c.after != nil {
		return c.after()
	}
	return nil
}

func (c *callback) await(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-c.ch:
		return b
	case <-time.After(wait):
		t.Fatal("no response")
		return nil
	}
}

func createAccount(t *testing.T, m *instance, name string) *pb.Model_Account {
	t.Helper()
	req, err := (&pb.Rpc_Account_Create_Request{Name: name}).Marshal()
	require.NoError(t, err)
	b, err := m.command("AccountCreate", req)
	require.NoError(t, err)
	var resp pb.Rpc_Account_Create_Response
	require.NoError(t, resp.Unmarshal(b))
	require.Nil(t, resp.Error, "AccountCreate: %v", resp.Error)
	return resp.Account
}

func errorCode(t *testing.T, b []byte) pb.Rpc_Error_Code {
	t.Helper()
	var resp pb.Rpc_App_GetVersion_Response // field 1 is every response's Error
	require.NoError(t, resp.Unmarshal(b))
	return resp.Error.GetCode()
}

func TestNotStarted(t *testing.T) {
	m, _, _ := newInstance(t)
	b, err := m.command("AccountShow", nil)
	assert.ErrorIs(t, err, errNotStarted)
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_ERROR, errorCode(t, b), "the response says so too")

	cb := &callback{ch: make(chan []byte, 1)}
	m.commandAsync("AccountShow", nil, cb)
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_ERROR, errorCode(t, cb.await(t)))
	m.commandAsync("AccountShow", nil, nil) // a nil callback is fine

	assert.NoError(t, m.stop(), "Stop without Start")
	assert.Error(t, m.start(""), "an empty data dir")
}

func TestLifecycleCommandsAndEvents(t *testing.T) {
	m, _, dir := newInstance(t)
	ev := newEvents()
	m.setEventHandler(ev) // before Start: applies to what Start opens
	require.NoError(t, m.start(dir))
	assert.ErrorContains(t, m.start(dir), "already running")

	b, err := m.command("NoSuchCommand", nil)
	require.NoError(t, err)
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_COMMAND, errorCode(t, b))
	b, err = m.command("AccountCreate", []byte{0xff, 0xff})
	require.NoError(t, err)
	assert.Equal(t, pb.Rpc_Error_BAD_INPUT, errorCode(t, b))

	alice := createAccount(t, m, "Alice")
	assert.Equal(t, "accountShow:"+alice.Id, ev.next(t))

	cb := &callback{ch: make(chan []byte, 1)}
	m.commandAsync("AccountStop", nil, cb)
	assert.Equal(t, pb.Rpc_Error_NULL, errorCode(t, cb.await(t)))
	assert.Equal(t, "accountStopped:"+alice.Id, ev.next(t))

	bob := createAccount(t, m, "Bob")
	assert.Equal(t, "accountShow:"+bob.Id, ev.next(t))

	require.NoError(t, m.stop())
	require.NoError(t, m.stop(), "Stop is idempotent")
	_, err = m.command("AccountShow", nil)
	assert.ErrorIs(t, err, errNotStarted)

	// Start again on the same dir: the lock was released, Bob is selected.
	require.NoError(t, m.start(dir))
	b, err = m.command("AccountShow", nil)
	require.NoError(t, err)
	var shown pb.Rpc_Account_Show_Response
	require.NoError(t, shown.Unmarshal(b))
	assert.Equal(t, bob.Id, shown.Account.GetId())

	// The handler still applies after a restart; nil stops delivery.
	m.commandAsync("AccountStop", nil, nil)
	assert.Equal(t, "accountStopped:"+bob.Id, ev.next(t))
	m.setEventHandler(nil)
	createAccount(t, m, "Carol")
	select {
	case got := <-ev.ch:
		t.Fatalf("an event after SetEventHandler(nil): %s", got)
	case <-time.After(100 * time.Millisecond): // a short look for a wrong event, not a timing assertion
	}
}

func TestDataDirInUse(t *testing.T) {
	a, _, dir := newInstance(t)
	b, _, _ := newInstance(t)
	require.NoError(t, a.start(dir))
	assert.ErrorContains(t, b.start(dir), "locked")
}

func TestHostCallbackFailuresAreContained(t *testing.T) {
	m, logs, dir := newInstance(t)
	ev := newEvents()
	ev.onEach = func(n int) error {
		switch n {
		case 0:
			panic("the host's handler panicked")
		case 1:
			return errors.New("the host's handler failed")
		}
		return nil
	}
	m.setEventHandler(ev)
	require.NoError(t, m.start(dir))

	alice := createAccount(t, m, "Alice")
	assert.Equal(t, "accountShow:"+alice.Id, ev.next(t))
	cb := &callback{ch: make(chan []byte, 1), after: func() error { panic("the host's callback panicked") }}
	m.commandAsync("AccountStop", nil, cb)
	cb.await(t)
	assert.Equal(t, "accountStopped:"+alice.Id, ev.next(t))
	bob := createAccount(t, m, "Bob")
	assert.Equal(t, "accountShow:"+bob.Id, ev.next(t), "delivery goes on after a panic and an error")

	require.NoError(t, m.stop()) // waits for the callbacks, so the logs are complete
	out := logs.String()
	assert.Contains(t, out, "the host's handler panicked")
	assert.Contains(t, out, "the host's handler failed")
	assert.Contains(t, out, "the host's callback panicked")
}

// A handler that calls back into the facade — the usual pattern — must not
// deadlock Stop, and commands racing Stop answer or say "not started".
func TestCommandsRacingStop(t *testing.T) {
	m, _, dir := newInstance(t)
	ev := newEvents()
	ev.onEach = func(int) error {
		_, err := m.command("AccountShow", nil)
		if err != nil && !errors.Is(err, errNotStarted) {
			return err
		}
		return nil
	}
	m.setEventHandler(ev)
	require.NoError(t, m.start(dir))
	createAccount(t, m, "Alice")
	ev.next(t)

	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				b, err := m.command("AppGetVersion", nil)
				if err != nil {
					assert.ErrorIs(t, err, errNotStarted)
					return
				}
				assert.Equal(t, pb.Rpc_Error_NULL, errorCode(t, b))
				m.commandAsync("AccountShow", nil, nil)
			}
		}()
	}
	require.NoError(t, m.stop())
	wg.Wait()
}

// The package's static functions, as the bindings call them.
func TestStaticFunctions(t *testing.T) {
	dir := t.TempDir() // before the Stop cleanup, so removed after it
	assert.False(t, IsStarted())
	require.NoError(t, Start(dir))
	t.Cleanup(func() { require.NoError(t, Stop()) })
	assert.True(t, IsStarted())
	b, err := Command("AppGetVersion", nil)
	require.NoError(t, err)
	var resp pb.Rpc_App_GetVersion_Response
	require.NoError(t, resp.Unmarshal(b))
	assert.Equal(t, Version(), resp.Version)
	ev := newEvents()
	SetEventHandler(ev)
	cb := &callback{ch: make(chan []byte, 1)}
	req, err := (&pb.Rpc_Account_Create_Request{Name: "Alice"}).Marshal()
	require.NoError(t, err)
	CommandAsync("AccountCreate", req, cb)
	var created pb.Rpc_Account_Create_Response
	require.NoError(t, created.Unmarshal(cb.await(t)))
	assert.Equal(t, "accountShow:"+created.Account.GetId(), ev.next(t))
	SetEventHandler(nil)
	require.NoError(t, Stop())
	assert.False(t, IsStarted())
}
