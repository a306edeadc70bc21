package clientlibrary

import (
	"testing"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/pb"
)

// FuzzCommand: nothing a caller sends crashes the library, and every answer
// is a decodable response. The seeds (run by plain go test) cover every
// method with empty, valid and garbage bytes.
func FuzzCommand(f *testing.F) {
	valid := map[string][]byte{}
	valid["AccountCreate"], _ = (&pb.Rpc_Account_Create_Request{Name: "fuzz"}).Marshal()
	valid["AccountRecover"], _ = (&pb.Rpc_Account_Recover_Request{Mnemonic: "legal winner thank year wave sausage worth useful legal winner thank yellow"}).Marshal()
	valid["AccountSelect"], _ = (&pb.Rpc_Account_Select_Request{AccountId: "nope"}).Marshal()
	valid["SessionCreate"], _ = (&pb.Rpc_Session_Create_Request{Token: "wrong"}).Marshal()
	valid["SessionClose"], _ = (&pb.Rpc_Session_Close_Request{Token: "x"}).Marshal()
	for _, m := range Methods() {
		f.Add(m, []byte(nil))
		f.Add(m, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
		f.Add(m, []byte{0x08})
		if v, ok := valid[m]; ok {
			f.Add(m, v)
		}
	}
	f.Add("", []byte("x"))
	f.Add("Account\x00Create", []byte{})

	lib, err := New(Config{Core: core.Config{DataDir: f.TempDir()}})
	if err != nil {
		f.Fatal(err)
	}
	defer lib.Close()
	f.Fuzz(func(t *testing.T, method string, data []byte) {
		out := lib.Command(method, data)
		if out == nil {
			t.Fatal("nil response")
		}
		// Every response has field 1 = Error; a response type with only that
		// field skips the others, so it decodes any valid answer.
		var resp pb.Rpc_Account_Stop_Response
		if err := resp.Unmarshal(out); err != nil {
			t.Fatalf("undecodable response to %q: %v", method, err)
		}
		if _, known := commands[method]; !known && resp.Error.GetCode() != pb.Rpc_Error_UNKNOWN_COMMAND {
			t.Fatalf("unknown method %q answered %v", method, resp.Error)
		}
	})
}
