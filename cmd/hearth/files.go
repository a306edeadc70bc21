package main

import (
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

func newFilesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "files", Short: "Add, get and collect files"}

	add := &cobra.Command{
		Use:   "add SPACE PATH",
		Short: "Store a file and add it to a space",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			path, err := filepath.Abs(args[1]) // the daemon has its own working dir
			if err != nil {
				return fail("bad_input", "files add", err.Error())
			}
			return g.call("files add", func(c *client) error {
				var resp *pb.Rpc_File_Add_Response
				err := c.withProgress("files add", "adding", func(progressID string) error {
					ctx, cancel := c.ctx()
					defer cancel()
					var err error
					resp, err = c.api.FileAdd(ctx, &pb.Rpc_File_Add_Request{SpaceId: args[0], Path: path, ProgressId: progressID})
					return c.check("files add", err, resp.GetError())
				})
				if err != nil {
					return err
				}
				return g.output(map[string]any{"fileId": resp.FileId, "objectId": resp.ObjectId, "size": resp.Size_}, "fileId", "objectId", "size")
			})
		},
	}

	var out string
	get := &cobra.Command{
		Use:   "get SPACE FILEID --out PATH",
		Short: "Write a file of a space to PATH, downloading it if needed",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			if out == "" {
				return fail("bad_input", "files get", "--out PATH is required")
			}
			path, err := filepath.Abs(out)
			if err != nil {
				return fail("bad_input", "files get", err.Error())
			}
			return g.call("files get", func(c *client) error {
				var resp *pb.Rpc_File_Get_Response
				err := c.withProgress("files get", "getting", func(progressID string) error {
					ctx, cancel := c.ctx()
					defer cancel()
					var err error
					resp, err = c.api.FileGet(ctx, &pb.Rpc_File_Get_Request{SpaceId: args[0], FileId: args[1], OutPath: path, ProgressId: progressID})
					return c.check("files get", err, resp.GetError())
				})
				if err != nil {
					return err
				}
				return g.output(map[string]any{"size": resp.Size_}, "size")
			})
		},
	}
	get.Flags().StringVar(&out, "out", "", "where to write the file")

	var grace time.Duration
	gc := &cobra.Command{
		Use:   "gc [--grace DUR]",
		Short: "Delete blobs no space references any more",
		Args:  cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			secs := int64(-1) // the daemon's default
			if cc.Flags().Changed("grace") {
				if grace < 0 {
					return fail("bad_input", "files gc", "--grace must not be negative")
				}
				secs = int64(grace / time.Second)
			}
			return g.call("files gc", func(c *client) error {
				var resp *pb.Rpc_File_Gc_Response
				err := c.withProgress("files gc", "collecting", func(progressID string) error {
					ctx, cancel := c.ctx()
					defer cancel()
					var err error
					resp, err = c.api.FileGc(ctx, &pb.Rpc_File_Gc_Request{GraceSeconds: secs, ProgressId: progressID})
					return c.check("files gc", err, resp.GetError())
				})
				if err != nil {
					return err
				}
				return g.output(map[string]any{"blobsRemoved": resp.BlobsRemoved, "bytesFreed": resp.BytesFreed}, "blobsRemoved", "bytesFreed")
			})
		},
	}
	gc.Flags().DurationVar(&grace, "grace", 24*time.Hour, "only blobs unreferenced and older than this go (0 for all)")

	cmd.AddCommand(add, get, gc)
	return cmd
}
