package main

import (
	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

func newIndexCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "index", Short: "Rebuild and verify a space's index"}

	var source string
	rebuild := &cobra.Command{
		Use:   "rebuild SPACE [--source auto|checkpoint|fullscan]",
		Short: "Rebuild a space's index from its store; the space keeps serving meanwhile",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("index rebuild", func(c *client) error {
				var resp *pb.Rpc_Index_Rebuild_Response
				err := c.withProgress("index rebuild", "rebuilding", func(progressID string) error {
					ctx, cancel := c.ctx()
					defer cancel()
					var err error
					resp, err = c.api.IndexRebuild(ctx, &pb.Rpc_Index_Rebuild_Request{SpaceId: args[0], Source: source, ProgressId: progressID})
					return c.check("index rebuild", err, resp.GetError())
				})
				if err != nil {
					return err
				}
				failed := resp.FailedObjects
				if failed == nil {
					failed = []string{}
				}
				return g.output(map[string]any{
					"source": resp.Source, "objectsScanned": resp.ObjectsScanned, "objectsIndexed": resp.ObjectsIndexed,
					"objectsSkipped": resp.ObjectsSkipped, "objectsFailed": resp.ObjectsFailed, "durationMs": resp.DurationMs,
					"failedObjects": failed,
				}, "source", "objectsIndexed", "objectsSkipped", "objectsFailed", "durationMs")
			})
		},
	}
	rebuild.Flags().StringVar(&source, "source", "auto", "auto, checkpoint or fullscan")

	var repair bool
	verify := &cobra.Command{
		Use:   "verify SPACE [--repair]",
		Short: "Compare a space's index with its store, and repair it with --repair",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("index verify", func(c *client) error {
				var resp *pb.Rpc_Index_Verify_Response
				err := c.withProgress("index verify", "verifying", func(progressID string) error {
					ctx, cancel := c.ctx()
					defer cancel()
					var err error
					resp, err = c.api.IndexVerify(ctx, &pb.Rpc_Index_Verify_Request{SpaceId: args[0], Repair: repair, ProgressId: progressID})
					return c.check("index verify", err, resp.GetError())
				})
				if err != nil {
					return err
				}
				list := resp.MismatchList
				if list == nil {
					list = []string{}
				}
				if !g.json {
					for _, m := range list {
						g.human("mismatch %s", m)
					}
				}
				return g.output(map[string]any{
					"objects": resp.Objects, "mismatches": resp.Mismatches, "repaired": resp.Repaired, "mismatchList": list,
				}, "objects", "mismatches", "repaired")
			})
		},
	}
	verify.Flags().BoolVar(&repair, "repair", false, "re-index mismatched objects and remove extra records")
	cmd.AddCommand(rebuild, verify)
	return cmd
}
