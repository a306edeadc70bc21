package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/grpccodec"
)

// TestServeAccountCLI is the foundation's end-to-end path: daemon up, account
// created and shown through the CLI, a wrong token refused, clean SIGTERM.
func TestServeAccountCLI(t *testing.T) {
	data := t.TempDir()

	// Without a daemon, client commands say how to start one.
	_, errOut, code := cli(t, data, "account", "show")
	assert.NotEqual(t, 0, code)
	assert.Equal(t, "hearth: no daemon for "+data+": start 'hearth serve --data "+data+"'\n", errOut)

	d := startServe(t, data, "--local-only")

	// serve.json: 0600, with the addresses of the readiness line.
	serveFile := filepath.Join(data, "serve.json")
	st, err := os.Stat(serveFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	var info struct{ GRPC, GRPCWeb, Token string }
	raw, err := os.ReadFile(serveFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &info))
	assert.Equal(t, d.grpc, info.GRPC)
	assert.Equal(t, d.grpcweb, info.GRPCWeb)
	assert.NotEmpty(t, info.Token)

	// A second daemon on the same data dir fails clearly.
	second, errOut, code := cli(t, data, "serve", "--grpc", "127.0.0.1:0", "--grpcweb", "127.0.0.1:0")
	assert.NotEqual(t, 0, code, second)
	assert.Contains(t, errOut, "data dir locked")

	created := cliJSON(t, data, "account", "create", "--name", "Alice")
	accountID, _ := created["accountId"].(string)
	deviceID, _ := created["deviceId"].(string)
	mnemonic, _ := created["mnemonic"].(string)
	require.NotEmpty(t, accountID)
	require.NotEmpty(t, deviceID)
	assert.Len(t, strings.Fields(mnemonic), 12)
	// Ids are printed exactly as they appear in directory names.
	_, err = os.Stat(filepath.Join(data, "accounts", accountID, "keys"))
	require.NoError(t, err)

	shown := cliJSON(t, data, "account", "show")
	assert.Equal(t, map[string]any{"accountId": accountID, "deviceId": deviceID, "name": "Alice", "node": ""}, shown)

	// Key material never reaches the daemon's log.
	assert.NotContains(t, d.stderr.String(), mnemonic)

	// A call with a wrong token is refused.
	conn, err := grpc.NewClient(d.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = pb.NewClientCommandsClient(conn).AccountShow(metadata.AppendToOutgoingContext(ctx, "token", "wrong"), &pb.Rpc_Account_Show_Request{})
	assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)

	// Bad input: a clear one-line error, non-zero exit, JSON error object.
	out, errOut, code := cli(t, data, "--json", "account", "recover", "--mnemonic", "not a real mnemonic")
	assert.NotEqual(t, 0, code)
	assert.True(t, strings.HasPrefix(errOut, "hearth: account recover: "), errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"))
	var jerr struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &jerr), out)
	assert.Equal(t, "bad_mnemonic", jerr.Error.Code)

	// SIGTERM: exit 0 within the contract's 5 s, serve.json removed.
	began := time.Now()
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), d.stderr.String())
	assert.Less(t, time.Since(began), 5*time.Second)
	_, err = os.Stat(serveFile)
	assert.True(t, os.IsNotExist(err), "serve.json is removed on a clean exit")

	// The account is selected again on the next start.
	d2 := startServe(t, data)
	again := cliJSON(t, data, "account", "show")
	assert.Equal(t, accountID, again["accountId"])
	assert.Equal(t, deviceID, again["deviceId"])
	assert.Equal(t, 0, d2.stop(syscall.SIGINT))

	// Recover on a second data dir: same account, new device.
	other := t.TempDir()
	d3 := startServe(t, other)
	recovered := cliJSON(t, other, "account", "recover", "--mnemonic", mnemonic)
	assert.Equal(t, accountID, recovered["accountId"])
	assert.NotEqual(t, deviceID, recovered["deviceId"])
	assert.Equal(t, 0, d3.stop(syscall.SIGTERM))
}

// TestStaleServeFile: after a SIGKILL the daemon leaves serve.json behind;
// clients must say there is no daemon, and a new daemon must start.
func TestStaleServeFile(t *testing.T) {
	data := t.TempDir()
	d := startServe(t, data)
	require.NoError(t, d.cmd.Process.Kill())
	<-d.exited
	_, err := os.Stat(filepath.Join(data, "serve.json"))
	require.NoError(t, err, "a killed daemon cannot clean up")

	_, errOut, code := cli(t, data, "account", "show")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "no daemon for "+data)

	d2 := startServe(t, data)
	cliJSON(t, data, "account", "create", "--name", "Bob")
	assert.Equal(t, 0, d2.stop(syscall.SIGTERM))
}
