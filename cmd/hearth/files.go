package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/core/files"
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
	var force bool
	get := &cobra.Command{
		Use:   "get SPACE FILEID --out PATH|- [--force]",
		Short: "Write a file of a space to PATH (- for stdout), downloading it if needed",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			switch {
			case out == "":
				return usage("files get", "--out PATH is required (- writes to stdout)")
			case out == "-" && g.json:
				return usage("files get", "--out - writes the file to stdout: it cannot be combined with --json")
			case out == "-":
				return g.call("files get", func(c *client) error { return getToStdout(g, c, args[0], args[1]) })
			}
			path, err := filepath.Abs(out)
			if err != nil {
				return fail("bad_input", "files get", err.Error())
			}
			return g.call("files get", func(c *client) error {
				size, err := getFile(c, args[0], args[1], path, force)
				if err != nil {
					return err
				}
				return g.output(map[string]any{"size": size}, "size")
			})
		},
	}
	get.Flags().StringVar(&out, "out", "", "where to write the file (- for stdout)")
	get.Flags().BoolVar(&force, "force", false, "replace a file that exists at --out")

	list := &cobra.Command{
		Use:   "list SPACE",
		Short: "List a space's files, with each one's upload state",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("files list", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.FileList(ctx, &pb.Rpc_File_List_Request{SpaceId: args[0]})
				if err := c.check("files list", err, resp.GetError()); err != nil {
					return err
				}
				rows := make([]map[string]any, 0, len(resp.Files))
				for _, f := range resp.Files {
					rows = append(rows, map[string]any{"fileId": f.FileId, "objectId": f.ObjectId, "name": f.Name, "size": f.Size_,
						"status": f.Status, "error": f.ErrorMessage})
				}
				if g.json {
					return g.output(map[string]any{"files": rows})
				}
				return g.table(rows, "fileId", "name", "size", "status", "error")
			})
		},
	}

	status := &cobra.Command{
		Use:   "status SPACE FILEID",
		Short: "Show a file's upload state in a space: synced, syncing, queued, limited or error",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("files status", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.FileStatus(ctx, &pb.Rpc_File_Status_Request{SpaceId: args[0], FileId: args[1]})
				if err := c.check("files status", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{"fileId": args[1], "status": resp.Status, "error": resp.ErrorMessage}, "fileId", "status", "error")
			})
		},
	}

	var grace time.Duration
	gc := &cobra.Command{
		Use:   "gc [--grace DUR]",
		Short: "Delete blobs no space references any more",
		Args:  cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			secs := int64(-1) // the daemon's default
			if cc.Flags().Changed("grace") {
				if grace < 0 || grace > files.MaxGrace {
					return fail("bad_input", "files gc", fmt.Sprintf("--grace must be 0 to %v (100 years), not %v", files.MaxGrace, grace))
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

	cmd.AddCommand(add, get, list, status, gc)
	return cmd
}

// getFile has the daemon write a file of a space to path (absolute).
func getFile(c *client, spaceID, fileID, path string, overwrite bool) (int64, error) {
	var resp *pb.Rpc_File_Get_Response
	err := c.withProgress("files get", "getting", func(progressID string) error {
		ctx, cancel := c.ctx()
		defer cancel()
		var err error
		resp, err = c.api.FileGet(ctx, &pb.Rpc_File_Get_Request{SpaceId: spaceID, FileId: fileID, OutPath: path, ProgressId: progressID, Overwrite: overwrite})
		return c.check("files get", err, resp.GetError())
	})
	return resp.GetSize_(), err
}

// getToStdout is files get --out -: the daemon writes the file into a
// private temporary directory (it runs as this user, on this machine), the
// CLI copies it to stdout and removes it.
func getToStdout(g *globals, c *client, spaceID, fileID string) error {
	dir, err := os.MkdirTemp("", "hearth-get-")
	if err != nil {
		return fail("files_get", "files get", err.Error())
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "file")
	if _, err := getFile(c, spaceID, fileID, path, false); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fail("files_get", "files get", err.Error())
	}
	defer f.Close()
	if _, err := io.Copy(g.stdout, f); err != nil {
		return fail("write", "files get", "writing to stdout: "+err.Error())
	}
	return nil
}
