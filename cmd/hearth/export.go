package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/pb"
)

// Export format (docs/cli.md): objects.jsonl holds one JSON object per line,
// {"objectId", "type", "details"} with details as plain JSON (the derived
// keys type, created and modified included); files/<fileId>/<name> holds the
// content of each file object. Without --out only the JSON lines are
// written, to stdout. Import reads either form back into a space, as new
// objects (ids are content hashes of each object's first change, so they
// cannot be kept).

// exportPage is how many objects one query of an export reads.
const exportPage = 1000

// derivedKeys are computed from an object's changes; import does not set them.
var derivedKeys = map[string]bool{"type": true, "created": true, "modified": true, "syncStatus": true, "id": true}

// fileKeys are a file object's file details, which only files add writes.
var fileKeys = map[string]bool{"fileId": true, "name": true, "size": true, "keyId": true, "remoteId": true}

type exportLine struct {
	ObjectID string         `json:"objectId"`
	Type     string         `json:"type"`
	Details  map[string]any `json:"details"`
}

func newExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export SPACE [--out DIR]",
		Short: "Write every object of a space as JSON lines (and, with --out DIR, its files too)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if out == "" || out == "-" {
				if g.json {
					return usage("export", "without --out DIR the export itself is the output (JSON lines on stdout): drop --json")
				}
				return g.call("export", func(c *client) error {
					_, err := exportObjects(c, args[0], g.stdout, nil)
					return err
				})
			}
			dir, err := filepath.Abs(out)
			if err != nil {
				return fail("bad_input", "export", err.Error())
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fail("already_exists", "export", dir+" is not empty: export into a new directory")
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fail("export", "export", err.Error())
			}
			return g.call("export", func(c *client) error {
				f, err := os.Create(filepath.Join(dir, "objects.jsonl"))
				if err != nil {
					return fail("export", "export", err.Error())
				}
				var fileObjs []exportLine
				n, err := exportObjects(c, args[0], f, func(l exportLine) { fileObjs = append(fileObjs, l) })
				if cerr := f.Close(); err == nil && cerr != nil {
					err = fail("export", "export", cerr.Error())
				}
				if err != nil {
					return err
				}
				for _, l := range fileObjs {
					fileID, _ := l.Details["fileId"].(string)
					target := filepath.Join(dir, "files", files.PublicID(fileID), safeName(l.Details["name"]))
					if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
						return fail("export", "export", err.Error())
					}
					if _, err := getFile(c, args[0], fileID, target, false); err != nil {
						return err
					}
				}
				g.human("exported %d objects and %d files to %s", n, len(fileObjs), dir)
				return g.output(map[string]any{"objects": n, "files": len(fileObjs), "out": dir}, "objects", "files", "out")
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "a new directory for objects.jsonl and files/ (default: JSON lines on stdout, no files)")
	return cmd
}

// exportObjects writes every object of the space to w as JSON lines, page
// by page, and hands file objects to onFile.
func exportObjects(c *client, spaceID string, w io.Writer, onFile func(exportLine)) (int, error) {
	bw := bufio.NewWriter(w)
	n := 0
	for offset := int32(0); ; offset += exportPage {
		ctx, cancel := c.ctx()
		resp, err := c.api.ObjectQuery(ctx, &pb.Rpc_Object_Query_Request{SpaceId: spaceID, Limit: exportPage, Offset: offset,
			Sorts: []*pb.Model_Sort{{Key: "created"}}})
		cancel()
		if err := c.check("export", err, resp.GetError()); err != nil {
			return n, err
		}
		for _, o := range resp.Objects {
			l := exportLine{ObjectID: o.ObjectId, Type: o.Type, Details: detailsToJSON(o.Details)}
			b, err := marshalJSON(l)
			if err != nil {
				return n, fail("encode", "export", err.Error())
			}
			if _, err := bw.Write(append(b, '\n')); err != nil {
				return n, fail("write", "export", err.Error())
			}
			n++
			if l.Type == "file" && onFile != nil {
				onFile(l)
			}
		}
		if len(resp.Objects) < exportPage || int64(offset)+exportPage >= resp.Total {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fail("write", "export", err.Error())
	}
	return n, nil
}

// safeName is a file object's name as a file name of its own: never a path.
func safeName(v any) string {
	s, _ := v.(string)
	s = filepath.Base(strings.ReplaceAll(s, "\\", "/"))
	if s == "." || s == ".." || s == "/" || s == "" || strings.ContainsRune(s, 0) {
		return "file"
	}
	return s
}

func newImportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import SPACE PATH",
		Short: "Create the objects (and files) of an export in a space: PATH is an export directory, a .jsonl file, or - for stdin",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			in, dir, err := openImport(g, args[1])
			if err != nil {
				return err
			}
			defer in.Close()
			return g.call("import", func(c *client) error {
				objs, nfiles, err := importLines(c, args[0], in, dir)
				if err != nil {
					return err
				}
				g.human("imported %d objects (%d files)", objs, nfiles)
				return g.output(map[string]any{"objects": objs, "files": nfiles}, "objects", "files")
			})
		},
	}
}

// openImport opens PATH: an export directory (its objects.jsonl; files from
// its files/), a JSON-lines file, or stdin.
func openImport(g *globals, path string) (io.ReadCloser, string, error) {
	if path == "-" {
		return io.NopCloser(g.stdin), "", nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", fail("bad_input", "import", err.Error())
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, "", fail("not_found", "import", err.Error())
	}
	dir := ""
	if st.IsDir() {
		dir, abs = abs, filepath.Join(abs, "objects.jsonl")
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, "", fail("not_found", "import", err.Error())
	}
	return f, dir, nil
}

// maxImportLine bounds one line of an import (an object's details).
const maxImportLine = 16 << 20

func importLines(c *client, spaceID string, in io.Reader, dir string) (objects, nfiles int, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	for lineNo := 1; sc.Scan(); lineNo++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		l, details, err := parseImportLine(text)
		if err != nil {
			return objects, nfiles, fail("bad_input", "import", fmt.Sprintf("line %d: %v", lineNo, err))
		}
		var id string
		if l.Type == "file" {
			fileID, _ := l.Details["fileId"].(string)
			path := ""
			if dir != "" {
				path = filepath.Join(dir, "files", files.PublicID(fileID), safeName(l.Details["name"]))
			}
			if path == "" || !regularFile(path) {
				return objects, nfiles, fail("not_found", "import", fmt.Sprintf("line %d: the content of file %s is not in the export (files/%s/)", lineNo, fileID, fileID))
			}
			ctx, cancel := c.ctx()
			resp, err := c.api.FileAdd(ctx, &pb.Rpc_File_Add_Request{SpaceId: spaceID, Path: path})
			cancel()
			if err := c.check("import", err, resp.GetError()); err != nil {
				return objects, nfiles, err
			}
			id = resp.ObjectId
			nfiles++
			for k := range fileKeys {
				delete(details, k)
			}
			if len(details) > 0 {
				ctx, cancel := c.ctx()
				sresp, err := c.api.ObjectSet(ctx, &pb.Rpc_Object_Set_Request{SpaceId: spaceID, ObjectId: id, Details: details})
				cancel()
				if err := c.check("import", err, sresp.GetError()); err != nil {
					return objects, nfiles, err
				}
			}
		} else {
			ctx, cancel := c.ctx()
			resp, err := c.api.ObjectCreate(ctx, &pb.Rpc_Object_Create_Request{SpaceId: spaceID, Type: l.Type, Details: details})
			cancel()
			if err := c.check("import", err, resp.GetError()); err != nil {
				return objects, nfiles, err
			}
		}
		objects++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", maxImportLine)
		}
		return objects, nfiles, fail("bad_input", "import", err.Error())
	}
	return objects, nfiles, nil
}

// parseImportLine reads one exported object; details loses the derived keys.
func parseImportLine(text string) (exportLine, map[string]*pb.Model_Value, error) {
	var l exportLine
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&l); err != nil {
		return l, nil, fmt.Errorf("not an exported object: %v", err)
	}
	details := make(map[string]*pb.Model_Value, len(l.Details))
	for k, v := range l.Details {
		if derivedKeys[k] {
			continue
		}
		val, err := jsonToValue(v, k)
		if err != nil {
			return l, nil, fmt.Errorf("detail %q: %v", k, err)
		}
		details[k] = val
	}
	return l, details, nil
}

func regularFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
