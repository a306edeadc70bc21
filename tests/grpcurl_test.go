package tests

import (
	"encoding/json"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGrpcurl drives the bridge with grpcurl (go install'ed into bin/tools
// by scripts/test-deps.sh): reflection lists and describes the service, a
// command runs, and without the token everything, reflection included, is
// refused.
func TestGrpcurl(t *testing.T) {
	ensureDeps(t, "grpcurl")
	grpcurl := toolPath(t, "grpcurl")
	data := t.TempDir()
	d := startServe(t, data, "--local-only")
	info := readServeInfo(t, data)
	auth := []string{"-H", "token: " + info.Token, "-plaintext", "-max-time", "60"}

	_, errOut, code := run(t, ".", nil, grpcurl, "-plaintext", "-max-time", "60", d.grpc, "list")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "Unauthenticated")

	out, errOut, code := run(t, ".", nil, grpcurl, append(auth, d.grpc, "list")...)
	require.Equalf(t, 0, code, "grpcurl list: %s", errOut)
	assert.Contains(t, out, "hearth.ClientCommands\n")
	assert.Contains(t, out, "grpc.reflection.v1.ServerReflection\n")

	out, errOut, code = run(t, ".", nil, grpcurl, append(auth, d.grpc, "describe", "hearth.ClientCommands")...)
	require.Equalf(t, 0, code, "grpcurl describe: %s", errOut)
	assert.Contains(t, out, "rpc AccountCreate ( .hearth.Rpc.Account.Create.Request ) returns ( .hearth.Rpc.Account.Create.Response );")
	assert.Contains(t, out, "rpc ListenSessionEvents ( .hearth.StreamRequest ) returns ( stream .hearth.Event );")

	out, errOut, code = run(t, ".", nil, grpcurl, append(auth, "-d", `{"name": "Grace"}`, d.grpc, "hearth.ClientCommands/AccountCreate")...)
	require.Equalf(t, 0, code, "grpcurl AccountCreate: %s", errOut)
	var created struct {
		Error   *struct{ Code, Description string }
		Account struct{ ID, DeviceID, Name string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	assert.Nil(t, created.Error, out)
	require.NotEmpty(t, created.Account.ID, out)
	assert.Equal(t, "Grace", created.Account.Name)

	// What grpcurl did is what the CLI sees.
	shown := cliJSON(t, data, "account", "show")
	assert.Equal(t, created.Account.ID, shown["accountId"])
	assert.Equal(t, "Grace", shown["name"])
	assert.Equal(t, 0, d.stop(syscall.SIGTERM))
}
