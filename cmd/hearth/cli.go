package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// globals are the flags every subcommand shares.
type globals struct {
	dataDir string
	json    bool
	stdout  io.Writer
	stderr  io.Writer
}

// cliError is a failure the CLI reports: one line on stderr
// ("hearth: <what>: <why>") and, with --json, an error object on stdout.
type cliError struct {
	code string // stable, lower-case, e.g. "unauthenticated", "no_daemon"
	what string
	why  string
	exit int
}

func (e *cliError) Error() string {
	if e.what == "" {
		return e.why
	}
	return e.what + ": " + e.why
}

func fail(code, what, why string) error { return &cliError{code: code, what: what, why: why, exit: 1} }

// run executes the CLI and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ce *cliError
	if !errors.As(err, &ce) {
		ce = &cliError{code: "usage", why: err.Error(), exit: 2}
	}
	fmt.Fprintf(stderr, "hearth: %s\n", ce.Error())
	if g.json {
		_ = json.NewEncoder(stdout).Encode(map[string]any{"error": map[string]string{"code": ce.code, "message": ce.Error()}})
	}
	return ce.exit
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "hearth",
		Short:         "Hearth: a local-first sync core",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data", defaultDataDir(), "data dir ($HEARTH_DATA, else ~/.hearth)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print one JSON object per command")
	root.AddCommand(newServeCmd(g), newNodeCmd(g), newAccountCmd(g), newSpaceCmd(g), newObjectCmd(g))
	root.AddCommand(newEventsCmd(g), newFilesCmd(g), newIndexCmd(g))
	return root
}

func defaultDataDir() string {
	if d := os.Getenv("HEARTH_DATA"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".hearth")
	}
	return ".hearth"
}

// output prints v as JSON with --json, else as "key: value" lines in the
// order of fields.
func (g *globals) output(v map[string]any, fields ...string) error {
	if g.json {
		return json.NewEncoder(g.stdout).Encode(v)
	}
	width := 0
	for _, f := range fields {
		width = max(width, len(f))
	}
	for _, f := range fields {
		fmt.Fprintf(g.stdout, "%-*s  %v\n", width+1, f+":", v[f])
	}
	return nil
}

// human prints a note for people only (never in --json mode).
func (g *globals) human(format string, args ...any) {
	if !g.json {
		fmt.Fprintf(g.stderr, strings.TrimSuffix(format, "\n")+"\n", args...)
	}
}
