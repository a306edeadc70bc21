package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/bindings"
	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/grpccodec"
)

// serveInfo is serve.json: how clients reach the daemon of a data dir.
type serveInfo struct {
	GRPC    string `json:"grpc"`
	GRPCWeb string `json:"grpcweb"`
	Token   string `json:"token"`
}

// commandTimeout bounds one client command.
const commandTimeout = 2 * time.Minute

// client is a connection to the daemon of the data dir.
type client struct {
	g    *globals
	conn *grpc.ClientConn
	api  pb.ClientCommandsClient
	info serveInfo
}

func (g *globals) noDaemon() error {
	return fail("no_daemon", "no daemon for "+g.dataDir, fmt.Sprintf("start 'hearth serve --data %s'", g.dataDir))
}

// dial reads serve.json and connects. A missing file means no daemon.
func (g *globals) dial() (*client, error) {
	raw, err := os.ReadFile(datadir.Layout{Root: g.dataDir}.ServeFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, g.noDaemon()
	}
	if err != nil {
		return nil, fail("serve_file", "read serve.json", err.Error())
	}
	var info serveInfo
	if err := json.Unmarshal(raw, &info); err != nil || info.GRPC == "" {
		return nil, fail("serve_file", "read serve.json", "the file is damaged: restart 'hearth serve'")
	}
	conn, err := grpc.NewClient(info.GRPC,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())),
	)
	if err != nil {
		return nil, fail("connect", "connect to the daemon", err.Error())
	}
	return &client{g: g, conn: conn, api: pb.NewClientCommandsClient(conn), info: info}, nil
}

func (c *client) Close() { c.conn.Close() }

// call dials the daemon, runs fn, and closes the connection.
func (g *globals) call(what string, fn func(*client) error) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// ctx is a call context carrying the token.
func (c *client) ctx() (context.Context, context.CancelFunc) { return c.ctxFor(commandTimeout) }

// ctxFor is ctx for a command that may take up to d.
func (c *client) ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	return metadata.AppendToOutgoingContext(ctx, bindings.TokenKey, c.info.Token), cancel
}

// check turns a transport error or a response's Error into a cliError.
// The daemon's descriptions never name the operation (the CLI does); a
// description that starts with it anyway loses the repetition.
func (c *client) check(what string, rpcErr error, apiErr *pb.Rpc_Error) error {
	if rpcErr != nil {
		st := status.Convert(rpcErr)
		switch st.Code() {
		case codes.Unavailable:
			return c.g.noDaemon()
		case codes.Unauthenticated:
			return fail("unauthenticated", what, "unauthenticated: the token in serve.json was refused")
		case codes.DeadlineExceeded:
			return fail("timeout", what, fmt.Sprintf("the daemon did not answer within %v", commandTimeout))
		case codes.Canceled:
			return fail("canceled", what, "interrupted")
		case codes.ResourceExhausted:
			return fail("too_large", what, "the request or its answer is too large for one call")
		}
		return fail(strings.ToLower(st.Code().String()), what, "the daemon failed: "+st.Message())
	}
	if apiErr != nil && apiErr.Code != pb.Rpc_Error_NULL {
		return fail(strings.ToLower(apiErr.Code.String()), what, withoutPrefix(apiErr.Description, what))
	}
	return nil
}

// withoutPrefix drops a leading "what: " (or its singular, "file add" for
// "files add") from desc.
func withoutPrefix(desc, what string) string {
	for _, p := range []string{what, strings.Replace(what, "files ", "file ", 1)} {
		if rest, ok := strings.CutPrefix(desc, p+": "); ok {
			return rest
		}
	}
	return desc
}
