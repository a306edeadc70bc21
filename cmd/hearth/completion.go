package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

// Shell completion is cobra's (`hearth completion bash|zsh|fish|powershell`).
// On top of command and flag names, a SPACE argument completes to the ids of
// the spaces the daemon's account knows, with their names as descriptions.

// completeSpaces adds space-id completion to every command whose first
// argument is SPACE.
func completeSpaces(g *globals, cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		completeSpaces(g, c)
	}
	f := strings.Fields(cmd.Use)
	if len(f) < 2 || f[1] != "SPACE" || cmd.ValidArgsFunction != nil {
		return
	}
	cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return g.spaceIDs(), cobra.ShellCompDirectiveNoFileComp
	}
}

// spaceIDs lists "id\tname" for completion; nothing when no daemon answers.
func (g *globals) spaceIDs() []string {
	c, err := g.dial()
	if err != nil {
		return nil
	}
	defer c.Close()
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := c.api.SpaceList(ctx, &pb.Rpc_Space_List_Request{})
	if err != nil || resp.GetError().GetCode() != pb.Rpc_Error_NULL {
		return nil
	}
	out := make([]string, 0, len(resp.Spaces))
	for _, s := range resp.Spaces {
		out = append(out, s.SpaceId+"\t"+strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || unsafeRune(r) {
				return '?'
			}
			return r
		}, s.Name))
	}
	return out
}
