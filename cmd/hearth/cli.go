package main

import (
	"bytes"
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
	stdin   io.Reader
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

// Exit statuses: 1 for a failure, 2 for a command line that is not one.
const (
	exitFailure = 1
	exitUsage   = 2
)

func fail(code, what, why string) error {
	return &cliError{code: code, what: what, why: why, exit: exitFailure}
}

func usage(what, why string) error {
	return &cliError{code: "usage", what: what, why: why, exit: exitUsage}
}

// run executes the CLI and returns the exit status. Every failure — a
// command's, a flag's, an unknown command — prints one line on stderr and,
// with --json, one error object on stdout.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(args, os.Stdin, stdout, stderr)
}

func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ce *cliError
	if !errors.As(err, &ce) {
		// cobra's own: an unknown command or flag, a wrong number of
		// arguments, a required flag missing.
		ce = &cliError{code: "usage", what: commandWords(cmd), exit: exitUsage,
			why: fmt.Sprintf("%s (see 'hearth %s --help')", err.Error(), commandWords(cmd))}
		if cmd == root {
			ce.what, ce.why = "", fmt.Sprintf("%s (see 'hearth --help')", err.Error())
		}
	}
	if !g.json { // flags may have failed to parse before --json did
		g.json = jsonRequested(args)
	}
	fmt.Fprintf(stderr, "hearth: %s\n", escapeLine(ce.Error()))
	if g.json {
		_ = newEncoder(stdout).Encode(map[string]any{"error": map[string]string{"code": ce.code, "message": ce.Error()}})
	}
	return ce.exit
}

// commandWords is a command's path without the binary's name.
func commandWords(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), "hearth"), " ")
}

// jsonRequested reports whether the command line asks for --json.
func jsonRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "hearth",
		Short:         "Hearth: a local-first sync core",
		Long:          "Hearth: a local-first sync core. 'hearth serve' runs the daemon; the other commands are its clients (docs/cli.md).",
		Version:       versionLine(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().StringVar(&g.dataDir, "data", defaultDataDir(), "data dir ($HEARTH_DATA, else ~/.hearth)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print one JSON object per command")
	root.AddCommand(newServeCmd(g), newNodeCmd(g), newAccountCmd(g), newSpaceCmd(g), newObjectCmd(g))
	root.AddCommand(newEventsCmd(g), newFilesCmd(g), newIndexCmd(g), newDoctorCmd(g), newExportCmd(g), newImportCmd(g))
	root.AddCommand(newVersionCmd(g))
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usage(commandWords(cmd), fmt.Sprintf("%s (see 'hearth %s --help')", err.Error(), commandWords(cmd)))
	})
	strictGroups(root)
	completeSpaces(g, root)
	return root
}

// strictGroups makes every command that only groups others refuse an
// unknown subcommand (cobra would print the help and exit 0) and print its
// help when given none.
func strictGroups(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		strictGroups(c)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usage(commandWords(c), fmt.Sprintf("unknown command %q (see 'hearth %s --help')", args[0], commandWords(c)))
		}
		return c.Help()
	}
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
// order of fields (values escaped for the terminal).
func (g *globals) output(v map[string]any, fields ...string) error {
	if g.json {
		return newEncoder(g.stdout).Encode(v)
	}
	width := 0
	for _, f := range fields {
		width = max(width, len(f))
	}
	for _, f := range fields {
		fmt.Fprintf(g.stdout, "%-*s  %s\n", width+1, f+":", escapeText(fmt.Sprint(v[f])))
	}
	return nil
}

// newEncoder writes one JSON object per line, without HTML escaping ("<"
// stays "<": the output is for programs and people, not for a web page).
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// marshalJSON is json.Marshal without HTML escaping and without the newline.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := newEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// human prints a note for people only (never in --json mode). Arguments are
// escaped: they may carry names other people chose.
func (g *globals) human(format string, args ...any) {
	if !g.json {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = escapeText(s)
			}
		}
		fmt.Fprintf(g.stderr, strings.TrimSuffix(format, "\n")+"\n", args...)
	}
}
