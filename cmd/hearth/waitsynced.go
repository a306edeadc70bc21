package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

// waitPoll is how often wait-synced asks for the space's status.
const waitPoll = 200 * time.Millisecond

func newWaitSyncedCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait-synced SPACE [--timeout DUR]",
		Short: "Wait until a space is loaded and synced (nothing to upload, nothing known to download)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usage("space wait-synced", "--timeout must be positive")
			}
			return g.call("space wait-synced", func(c *client) error {
				deadline := time.Now().Add(timeout)
				for {
					ctx, cancel := c.ctx()
					resp, err := c.api.SpaceStatus(ctx, &pb.Rpc_Space_Status_Request{SpaceId: args[0]})
					cancel()
					if err := c.check("space wait-synced", err, resp.GetError()); err != nil {
						// A space this device has not found yet (a recovered
						// device discovers the account's spaces as it syncs) or
						// not loaded yet: wait for it too, until the deadline.
						code := resp.GetError().GetCode()
						if (code == pb.Rpc_Error_NOT_FOUND || code == pb.Rpc_Error_SPACE_NOT_LOADED) && time.Now().Before(deadline) {
							time.Sleep(waitPoll)
							continue
						}
						return err
					}
					st := resp.Status
					if st.GetStatus() == "synced" {
						return g.output(statusOut(st), statusFields...)
					}
					if time.Now().After(deadline) {
						why := fmt.Sprintf("space %s is still %s after %v (%d objects syncing, %d files pending)",
							args[0], st.GetStatus(), timeout, st.GetSyncingObjects(), st.GetPendingFiles())
						if e := st.GetError(); e != "" {
							why += ": " + e
						}
						return fail("timeout", "space wait-synced", why)
					}
					time.Sleep(waitPoll)
				}
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long (exit status 1)")
	return cmd
}
