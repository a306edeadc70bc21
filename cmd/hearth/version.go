package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what the binary knows about its build: the -ldflags version
// (main.version), and what the Go toolchain stamped in (the VCS revision
// and time when built from a checkout, the Go version).
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commitTime"`
	Modified   bool   `json:"modified"`
	Go         string `json:"go"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = info.GoVersion
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version // go install module@version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// versionLine is what --version prints.
func versionLine() string {
	b := readBuildInfo()
	line := "hearth " + b.Version
	if b.Commit != "" {
		commit := b.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if b.Modified {
			commit += "+modified"
		}
		line += fmt.Sprintf(" (commit %s, %s)", commit, b.CommitTime)
	}
	if b.Go != "" {
		line += " " + b.Go
	}
	return line
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version and build of this binary (also: hearth --version)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := readBuildInfo()
			if !g.json {
				fmt.Fprintln(g.stdout, versionLine())
				return nil
			}
			return g.output(map[string]any{"version": b.Version, "commit": b.Commit, "commitTime": b.CommitTime, "modified": b.Modified, "go": b.Go})
		},
	}
}
