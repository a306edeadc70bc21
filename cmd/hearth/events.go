package main

import (
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb"
)

func newEventsCmd(g *globals) *cobra.Command {
	var spaceID string
	cmd := &cobra.Command{
		Use:   "events [--space SPACE]",
		Short: "Subscribe to every object and print every event of the session, one JSON object per line",
		Long: `Opens a session, subscribes to every object of SPACE (of every loaded space
without --space) with all keys, prints {"ready": true} once the subscription
is active, then every event the session receives as the protobuf JSON of
Event (detail values as plain JSON), one per line, until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.call("events", func(c *client) error {
				return runEvents(g, c, spaceID)
			})
		},
	}
	cmd.Flags().StringVar(&spaceID, "space", "", "the space to follow (default: every loaded space)")
	return cmd
}

func runEvents(g *globals, c *client, spaceID string) error {
	ev, err := c.openEvents("events")
	if err != nil {
		return err
	}
	defer ev.Close()
	req := &pb.Rpc_Object_Subscribe_Request{}
	if spaceID != "" {
		req.SpaceIds = []string{spaceID}
	}
	ctx, cancel := ev.ctx()
	resp, err := c.api.ObjectSubscribe(ctx, req)
	cancel()
	if err := c.check("events", err, resp.GetError()); err != nil {
		return err
	}
	if err := writeLine(g.stdout, map[string]any{"ready": true}); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() { // ends the stream on a signal; exits with it (Close cancels)
		select {
		case <-sigs:
			ev.cancel()
		case <-ev.stream.Context().Done():
		}
	}()
	for {
		e, err := ev.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil // interrupted, or the daemon closed the session
			}
			return c.check("events", err, nil)
		}
		line, err := eventJSON(e)
		if err != nil {
			return fail("encode", "events", err.Error())
		}
		// One write per line, unbuffered: each event is out as it arrives.
		if _, err := g.stdout.Write(append(line, '\n')); err != nil {
			return err
		}
	}
}

func writeLine(w io.Writer, v any) error {
	b, err := marshalJSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// eventJSON is one event as a JSON line: the protobuf JSON of e with the
// contract's words and numbers and detail values as plain JSON (protoJSON).
func eventJSON(e *pb.Event) ([]byte, error) {
	return marshalJSON(protoJSON(e))
}
