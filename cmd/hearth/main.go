// Command hearth is Hearth's one binary: `serve` runs the middleware with its
// gRPC + gRPC-Web bridge, and the other subcommands are clients of a running
// `hearth serve` for the same data dir (found through serve.json). The
// contract — names, flags, JSON fields — is ../shared/CLI.md.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
