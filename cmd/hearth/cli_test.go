package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/pb"
)

// runCLI runs the CLI in-process on an empty data dir (no daemon).
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runWith(append([]string{"--data", t.TempDir()}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// TestCommandLineErrors: an unknown command or flag, a missing argument or
// required flag — all exit non-zero with one line on stderr and, with
// --json, the error object on stdout (wherever --json stands).
func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown subcommand", []string{"space", "bogus"}, `hearth: space: unknown command "bogus"`},
		{"unknown nested", []string{"files", "nope", "x"}, `hearth: files: unknown command "nope"`},
		{"unknown top", []string{"bogus"}, `hearth: unknown command "bogus"`},
		{"unknown flag", []string{"space", "list", "--bogus"}, "hearth: space list: unknown flag: --bogus"},
		{"missing argument", []string{"space", "members"}, "hearth: space members: accepts 1 arg(s), received 0"},
		{"missing required flag", []string{"account", "create"}, `hearth: account create: required flag(s) "name" not set`},
		{"empty name", []string{"account", "create", "--name", " "}, "hearth: account create: the name is empty"},
		{"delete without --yes", []string{"space", "delete", strings.Repeat("a", 52)}, "hearth: no daemon for"},
		{"gc grace over 100 years", []string{"files", "gc", "--grace", "900000h"}, "hearth: files gc: --grace must be 0 to"},
		{"negative node quota", []string{"node", "--max-spaces", "-1"}, "hearth: node: --max-spaces must be 0 (no limit) or more"},
	} {
		for _, jsonFirst := range []bool{true, false} {
			args := append([]string{"--json"}, tc.args...)
			if !jsonFirst {
				args = append(append([]string{}, tc.args...), "--json")
			}
			t.Run(tc.name, func(t *testing.T) {
				out, errOut, code := runCLI(t, args...)
				assert.NotEqual(t, 0, code)
				assert.True(t, strings.HasPrefix(errOut, tc.want), "stderr: %q", errOut)
				assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
				var v struct {
					Error struct{ Code, Message string }
				}
				require.NoError(t, json.Unmarshal([]byte(out), &v), "stdout: %q", out)
				assert.NotEmpty(t, v.Error.Code)
				assert.Equal(t, strings.TrimSuffix(strings.TrimPrefix(errOut, "hearth: "), "\n"), v.Error.Message)
			})
		}
	}
}

func TestExitStatuses(t *testing.T) {
	_, _, code := runCLI(t, "space", "bogus")
	assert.Equal(t, exitUsage, code)
	_, _, code = runCLI(t, "account", "show")
	assert.Equal(t, exitFailure, code, "no daemon is a failure, not a usage error")
	out, _, code := runCLI(t, "space")
	assert.Equal(t, 0, code, "a group without a subcommand prints its help")
	assert.Contains(t, out, "Available Commands")
	out, _, code = runCLI(t, "--version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "hearth "), out)
	out, _, code = runCLI(t, "completion", "bash")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "bash completion")
}

func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain name":                  "plain name",
		"Café ☕ 家":                    "Café ☕ 家",
		"\x1b[2J\x1b]0;pwned\x07evil": `\x1b[2J\x1b]0;pwned\x07evil`,
		"a\nb\tc\r":                   `a\x0ab\x09c\x0d`,
		"c1 \u009b31m":                `c1 \u009b31m`,
		"bidi \u202egnp.exe":          `bidi \u202egnp.exe`,
		"bad \xff byte":               `bad \xff byte`,
		"del\x7f":                     `del\x7f`,
	} {
		assert.Equal(t, want, escapeText(in), "%q", in)
	}
}

func FuzzEscapeText(f *testing.F) {
	for _, s := range []string{"", "x", "\x1b[31m", "\u202e", "\xff\xfe", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := escapeText(s)
		for _, r := range out {
			if r < 0x20 || r == 0x7f || unsafeRune(r) {
				t.Fatalf("escapeText(%q) = %q keeps %U", s, out, r)
			}
		}
	})
}

// TestProtoJSON: events print the contract's words and plain numbers.
func TestProtoJSON(t *testing.T) {
	e := &pb.Event{Seq: 12345678901234, ContextId: "c", Messages: []*pb.Event_Message{
		{Value: &pb.Event_Message_SpaceState{SpaceState: &pb.Event_Space_State{Space: &pb.Model_Space{
			SpaceId: "s", Name: "n", Mode: pb.Model_SPACE_MODE_LOADED, AccountStatus: pb.Model_ACCOUNT_STATUS_ACTIVE,
			LocalStatus: pb.Model_LOCAL_STATUS_OK, RemoteStatus: pb.Model_REMOTE_STATUS_PENDING_DELETION,
		}}}},
		{Value: &pb.Event_Message_SyncStatus{SyncStatus: &pb.Model_SpaceSyncStatus{SpaceId: "s", Status: "synced", SyncingObjects: 3, LastSyncedMs: 1700000000000}}},
		{Value: &pb.Event_Message_ObjectDetailsSet{ObjectDetailsSet: &pb.Event_Object_DetailsSet{Id: "o", Details: map[string]*pb.Model_Value{
			"n": {Kind: &pb.Model_Value_Number{Number: 2.5}}, "l": {Kind: &pb.Model_Value_List{List: &pb.Model_ValueList{Values: []*pb.Model_Value{{Kind: &pb.Model_Value_String_{String_: "x"}}}}}},
			"z": {Kind: &pb.Model_Value_Null{Null: true}},
		}}}},
	}}
	b, err := eventJSON(e)
	require.NoError(t, err)
	assert.JSONEq(t, `{"seq":12345678901234,"contextId":"c","messages":[
		{"spaceState":{"space":{"spaceId":"s","name":"n","mode":"loaded","accountStatus":"active","remoteStatus":"pendingDeletion","localStatus":"ok"}}},
		{"syncStatus":{"spaceId":"s","status":"synced","syncingObjects":3,"lastSyncedMs":1700000000000}},
		{"objectDetailsSet":{"id":"o","details":{"n":2.5,"l":["x"],"z":null}}}]}`, string(b))
	assert.Contains(t, string(b), `"seq":12345678901234`, "a number, not a string")
}

func TestEnumWordsMatchTheContract(t *testing.T) {
	for _, tc := range []struct {
		enum  any
		words []string
	}{
		{pb.Model_SpaceMode(0), modeWords},
		{pb.Model_AccountStatus(0), accountStatusWords},
		{pb.Model_LocalStatus(0), localStatusWords},
		{pb.Model_RemoteStatus(0), remoteStatusWords},
		{pb.Model_MemberStatus(0), memberStatusWords},
	} {
		for i, w := range tc.words {
			v := reflectEnum(tc.enum, i)
			got, ok := enumWord(v)
			assert.True(t, ok)
			assert.Equal(t, w, got)
		}
	}
}

func reflectEnum(enum any, i int) reflect.Value {
	v := reflect.New(reflect.TypeOf(enum)).Elem()
	v.SetInt(int64(i))
	return v
}

// FuzzImportLine: an import line is input from a file; bad lines are
// refused with an error, never a panic, and what parses keeps no derived key.
func FuzzImportLine(f *testing.F) {
	for _, s := range []string{
		`{"objectId":"x","type":"task","details":{"name":"a","n":3,"l":[1,"b",null],"created":1}}`,
		`{"type":"file","details":{"fileId":"abc","name":"../../etc/passwd"}}`,
		`{"details":{"o":{"nested":true}}}`, `[]`, `{`, `null`, `{"details":{"n":1e400}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, details, err := parseImportLine(s)
		if err != nil {
			return
		}
		for k := range details {
			if derivedKeys[k] {
				t.Fatalf("%q: derived key %q kept", s, k)
			}
		}
		if n := safeName(l.Details["name"]); strings.ContainsAny(n, "/\x00") || n == ".." || n == "." {
			t.Fatalf("%q: unsafe file name %q", s, n)
		}
	})
}
