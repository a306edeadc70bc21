package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"

	"github.com/schollz/progressbar/v3"
	"google.golang.org/grpc/metadata"

	"github.com/hearth-sync/hearth/bindings"
	"github.com/hearth-sync/hearth/pb"
)

// eventStream is a session of the daemon opened by the CLI, with its event
// stream. Close ends both.
type eventStream struct {
	c      *client
	token  string
	stream pb.ClientCommands_ListenSessionEventsClient
	cancel context.CancelFunc
}

// openEvents creates a session and opens its event stream. The stream's
// context has no deadline: it lives until Close.
func (c *client) openEvents(what string) (*eventStream, error) {
	ctx, cancel := c.ctx()
	resp, err := c.api.SessionCreate(ctx, &pb.Rpc_Session_Create_Request{AppName: "hearth-cli"})
	cancel()
	if err := c.check(what, err, errOf(resp)); err != nil {
		return nil, err
	}
	sctx, scancel := context.WithCancel(context.Background())
	sctx = metadata.AppendToOutgoingContext(sctx, bindings.TokenKey, resp.Token)
	stream, err := c.api.ListenSessionEvents(sctx, &pb.StreamRequest{Token: resp.Token})
	if err != nil {
		scancel()
		return nil, c.check(what, err, nil)
	}
	return &eventStream{c: c, token: resp.Token, stream: stream, cancel: scancel}, nil
}

// ctx is a call context authenticated as the stream's session (commands that
// belong to a session, such as subscriptions, run with it).
func (e *eventStream) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	return metadata.AppendToOutgoingContext(ctx, bindings.TokenKey, e.token), cancel
}

// Close ends the session and its stream.
func (e *eventStream) Close() {
	ctx, cancel := e.c.ctx()
	_, _ = e.c.api.SessionClose(ctx, &pb.Rpc_Session_Close_Request{Token: e.token})
	cancel()
	e.cancel()
}

func errOf(r interface{ GetError() *pb.Rpc_Error }) *pb.Rpc_Error {
	if r == nil {
		return nil
	}
	return r.GetError()
}

// stderrIsTerminal reports whether progress bars may be drawn: stderr is a
// terminal and the output is not --json.
func (g *globals) stderrIsTerminal() bool { return !g.json && isTerminal(g.stderr) }

// newProgressID returns a fresh id for a request's progressId.
func newProgressID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}

// withProgress runs call with a fresh progress id. When a bar may be drawn
// it opens a session and draws the daemon's progress events for that id on
// stderr while call runs; otherwise it just runs call (the id still goes to
// the daemon, which then reports to no one in particular).
func (c *client) withProgress(what, label string, call func(progressID string) error) error {
	id := newProgressID()
	if !c.g.stderrIsTerminal() {
		return call(id)
	}
	ev, err := c.openEvents(what)
	if err != nil {
		return call(id) // a bar is a nicety: never fail the work for it
	}
	drawn := make(chan struct{})
	go func() { // owned here: it ends when the stream is closed below
		defer close(drawn)
		drawProgress(ev.stream, id, label, c.g.stderr)
	}()
	err = call(id)
	ev.Close()
	<-drawn
	return err
}

// drawProgress renders the progress events of id until the stream ends.
func drawProgress(stream pb.ClientCommands_ListenSessionEventsClient, id, label string, out io.Writer) {
	var bar *progressbar.ProgressBar
	var unit string
	defer func() {
		if bar != nil {
			_ = bar.Finish()
			_, _ = io.WriteString(out, "\n")
		}
	}()
	for {
		ev, err := stream.Recv()
		if err != nil {
			return
		}
		for _, m := range ev.Messages {
			p := m.GetProgress()
			if p == nil || p.Id != id {
				continue
			}
			if bar == nil || p.Unit != unit {
				unit = p.Unit
				opts := []progressbar.Option{
					progressbar.OptionSetWriter(out),
					progressbar.OptionSetDescription(label),
					progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(0),
				}
				if unit == "bytes" {
					opts = append(opts, progressbar.OptionShowBytes(true))
				}
				total := p.Total
				if total <= 0 {
					total = -1 // a spinner until the total is known
				}
				bar = progressbar.NewOptions64(total, opts...)
			}
			if p.Total > 0 && bar.GetMax64() != p.Total {
				bar.ChangeMax64(p.Total)
			}
			if p.Stage != "" {
				bar.Describe(label + " (" + p.Stage + ")")
			}
			_ = bar.Set64(p.Done)
			if p.Finished {
				return
			}
		}
	}
}
