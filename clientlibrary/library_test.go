package clientlibrary

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	gogoproto "github.com/gogo/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/grpccodec"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newLibrary(t testing.TB) *Library {
	t.Helper()
	lib, err := New(Config{Core: core.Config{DataDir: t.TempDir()}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lib.Close()) })
	return lib
}

// TestEveryServiceMethodHasAHandler reads the ClientCommands service from the
// descriptor (not from the generator) and checks the dispatch table against
// it both ways: a method without a handler, or a stale handler, fails.
func TestEveryServiceMethodHasAHandler(t *testing.T) {
	require.NoError(t, grpccodec.RegisterReflection("commands.proto"))
	d, err := protoregistry.GlobalFiles.FindDescriptorByName("hearth.ClientCommands")
	require.NoError(t, err)
	svc := d.(protoreflect.ServiceDescriptor)
	want := map[string]bool{}
	for i := 0; i < svc.Methods().Len(); i++ {
		m := svc.Methods().Get(i)
		if m.IsStreamingServer() || m.IsStreamingClient() {
			continue
		}
		want[string(m.Name())] = true
		cmd, ok := commands[string(m.Name())]
		if !assert.Truef(t, ok, "service method %s has no handler: run make proto", m.Name()) {
			continue
		}
		// The table's types are the descriptor's types.
		req := cmd.newRequest()
		assert.Equal(t, string(m.Input().Name()), lastName(req), "request type of %s", m.Name())
	}
	for name := range commands {
		assert.Truef(t, want[name], "handler %s is not in the service: run make proto", name)
	}
	assert.NotEmpty(t, want)
}

func lastName(m message) string {
	type described interface{ Descriptor() ([]byte, []int) }
	_ = m.(described) // every gogo message has one
	// gogo's type name is the nested path joined by "_"; the descriptor's
	// name is its last element.
	name := gogoproto.MessageName(m)
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[i+1:]
		}
	}
	return name
}

func TestCommandBadInput(t *testing.T) {
	lib := newLibrary(t)
	out := lib.Command("AccountCreate", []byte{0xff, 0xff, 0xff})
	var resp pb.Rpc_Account_Create_Response
	require.NoError(t, resp.Unmarshal(out))
	assert.Equal(t, pb.Rpc_Error_BAD_INPUT, resp.Error.GetCode())
	assert.Contains(t, resp.Error.GetDescription(), "undecodable")
	assert.Nil(t, resp.Account)
}

func TestCommandUnknownMethod(t *testing.T) {
	lib := newLibrary(t)
	out := lib.Command("NoSuchThing", nil)
	// A response with only the shared error field decodes any answer.
	var resp pb.Rpc_Account_Stop_Response
	require.NoError(t, resp.Unmarshal(out))
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_COMMAND, resp.Error.GetCode())
	assert.Contains(t, resp.Error.GetDescription(), "NoSuchThing")
}

type panicky struct{ *api }

func (panicky) AccountShow(context.Context, *pb.Rpc_Account_Show_Request) *pb.Rpc_Account_Show_Response {
	panic("boom")
}

func (panicky) AccountList(context.Context, *pb.Rpc_Account_List_Request) *pb.Rpc_Account_List_Response {
	return nil
}

func TestHandlerPanicBecomesUnknownError(t *testing.T) {
	lib := newLibrary(t)
	lib.d.handlers = panicky{&api{lib: lib}}
	var show pb.Rpc_Account_Show_Response
	require.NoError(t, show.Unmarshal(lib.Command("AccountShow", nil)))
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_ERROR, show.Error.GetCode())
	assert.NotContains(t, show.Error.GetDescription(), "boom", "internal panic text is not shown to callers")

	var list pb.Rpc_Account_List_Response
	require.NoError(t, list.Unmarshal(lib.Command("AccountList", nil)))
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_ERROR, list.Error.GetCode(), "a nil response is an internal error")
}

func TestAccountLifecycleThroughCommands(t *testing.T) {
	lib := newLibrary(t)
	var show pb.Rpc_Account_Show_Response
	require.NoError(t, show.Unmarshal(lib.Command("AccountShow", nil)))
	assert.Equal(t, pb.Rpc_Error_NO_ACCOUNT, show.Error.GetCode())

	req, _ := (&pb.Rpc_Account_Create_Request{Name: "Ada"}).Marshal()
	var created pb.Rpc_Account_Create_Response
	require.NoError(t, created.Unmarshal(lib.Command("AccountCreate", req)))
	require.Nil(t, created.Error, "%v", created.Error)
	assert.Len(t, created.Mnemonic, len(created.Mnemonic))
	assert.Equal(t, "Ada", created.Account.Name)

	show = pb.Rpc_Account_Show_Response{} // gogo's Unmarshal merges into what is there
	require.NoError(t, show.Unmarshal(lib.Command("AccountShow", nil)))
	require.Nil(t, show.Error)
	assert.Equal(t, created.Account.Id, show.Account.Id)
	assert.Equal(t, created.Account.DeviceId, show.Account.DeviceId)

	var stop pb.Rpc_Account_Stop_Response
	require.NoError(t, stop.Unmarshal(lib.Command("AccountStop", nil)))
	require.Nil(t, stop.Error)
	show = pb.Rpc_Account_Show_Response{}
	require.NoError(t, show.Unmarshal(lib.Command("AccountShow", nil)))
	assert.Equal(t, pb.Rpc_Error_NO_ACCOUNT, show.Error.GetCode())

	sel, _ := (&pb.Rpc_Account_Select_Request{AccountId: created.Account.Id}).Marshal()
	var selected pb.Rpc_Account_Select_Response
	require.NoError(t, selected.Unmarshal(lib.Command("AccountSelect", sel)))
	require.Nil(t, selected.Error)
	assert.Equal(t, "Ada", selected.Account.Name, "the name survives a stop")
}

func TestRecoverBadMnemonic(t *testing.T) {
	lib := newLibrary(t)
	req, _ := (&pb.Rpc_Account_Recover_Request{Mnemonic: "abandon abandon abandon"}).Marshal()
	var resp pb.Rpc_Account_Recover_Response
	require.NoError(t, resp.Unmarshal(lib.Command("AccountRecover", req)))
	assert.Equal(t, pb.Rpc_Error_BAD_MNEMONIC, resp.Error.GetCode())
}

// TestEventsInOrder: events reach the in-process handler in the order the
// commands caused them, from one goroutine.
func TestEventsInOrder(t *testing.T) {
	lib := newLibrary(t)
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	const n = 6
	lib.SetEventHandler(func(b []byte) {
		var ev pb.Event
		require.NoError(t, ev.Unmarshal(b))
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ev.Messages {
			switch v := m.Value.(type) {
			case *pb.Event_Message_AccountShow:
				got = append(got, "show:"+v.AccountShow.Account.Name)
			case *pb.Event_Message_AccountStopped:
				got = append(got, "stopped")
			}
		}
		if len(got) == n {
			close(done)
		}
	})
	var want []string
	for i := 0; i < n/2; i++ {
		name := string(rune('a' + i))
		req, _ := (&pb.Rpc_Account_Create_Request{Name: name}).Marshal()
		var r pb.Rpc_Account_Create_Response
		require.NoError(t, r.Unmarshal(lib.Command("AccountCreate", req)))
		require.Nil(t, r.Error)
		var s pb.Rpc_Account_Stop_Response
		require.NoError(t, s.Unmarshal(lib.Command("AccountStop", nil)))
		require.Nil(t, s.Error)
		want = append(want, "show:"+name, "stopped")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("events did not arrive")
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, want, got)
}

func TestCommandAsyncAndClose(t *testing.T) {
	lib, err := New(Config{Core: core.Config{DataDir: t.TempDir()}})
	require.NoError(t, err)
	got := make(chan []byte, 1)
	lib.CommandAsync("AppGetVersion", nil, func(b []byte) { got <- b })
	var v pb.Rpc_App_GetVersion_Response
	require.NoError(t, v.Unmarshal(<-got))
	assert.Nil(t, v.Error)
	assert.Equal(t, "dev", v.Version)
	require.NoError(t, lib.Close())
	require.NoError(t, lib.Close(), "Close is idempotent")

	lib.CommandAsync("AppGetVersion", nil, func(b []byte) { got <- b })
	v = pb.Rpc_App_GetVersion_Response{}
	require.NoError(t, v.Unmarshal(<-got))
	assert.Equal(t, pb.Rpc_Error_UNKNOWN_ERROR, v.Error.GetCode(), "a call after Close answers an error")
}

func TestSessionLagged(t *testing.T) {
	h := newHub()
	s := h.Create("slow")
	for i := 0; i <= MaxQueuedEvents; i++ {
		h.Send(&pb.Event{ContextId: "x"})
	}
	_, err := s.Next(context.Background())
	assert.ErrorIs(t, err, ErrSessionLagged, "a session that fell behind is told to resync, not silently trimmed")
}

func TestSessionCloseDeliversQueuedFirst(t *testing.T) {
	h := newHub()
	s := h.Create("app")
	h.Send(&pb.Event{ContextId: "1"})
	h.Send(&pb.Event{ContextId: "2"})
	require.True(t, h.Close(s.Token()))
	for _, want := range []string{"1", "2"} {
		ev, err := s.Next(context.Background())
		require.NoError(t, err)
		assert.Equal(t, want, ev.ContextId)
	}
	_, err := s.Next(context.Background())
	assert.ErrorIs(t, err, ErrSessionClosed)
	_, ok := h.Lookup(s.Token())
	assert.False(t, ok)
}

func TestMain_dataDirLocked(t *testing.T) {
	dir := t.TempDir()
	lib, err := New(Config{Core: core.Config{DataDir: dir}})
	require.NoError(t, err)
	defer lib.Close()
	_, err = New(Config{Core: core.Config{DataDir: dir}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data dir locked")
	_, statErr := os.Stat(dir)
	require.NoError(t, statErr)
}
