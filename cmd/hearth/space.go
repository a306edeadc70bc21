package main

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

func newSpaceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "space", Short: "Create and list spaces"}

	var name string
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create a space owned by the account",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.call("space create", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceCreate(ctx, &pb.Rpc_Space_Create_Request{Name: name})
				if err := c.check("space create", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{"spaceId": resp.SpaceId}, "spaceId")
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "the space's name")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List every space the account knows",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.call("space list", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceList(ctx, &pb.Rpc_Space_List_Request{})
				if err := c.check("space list", err, resp.GetError()); err != nil {
					return err
				}
				rows := make([]map[string]any, 0, len(resp.Spaces))
				for _, s := range resp.Spaces {
					rows = append(rows, map[string]any{
						"spaceId":       s.SpaceId,
						"name":          s.Name,
						"mode":          word(modeWords, int32(s.Mode)),
						"accountStatus": word(accountStatusWords, int32(s.AccountStatus)),
						"localStatus":   word(localStatusWords, int32(s.LocalStatus)),
						"remoteStatus":  word(remoteStatusWords, int32(s.RemoteStatus)),
					})
				}
				acc := resp.GetAccount()
				if g.json {
					return g.output(map[string]any{"spaces": rows, "account": map[string]any{"accountId": acc.GetId(), "name": acc.GetName()}})
				}
				fmt.Fprintf(g.stdout, "Spaces of account %s (%s)\n", escapeText(acc.GetName()), acc.GetId())
				return g.table(rows, "spaceId", "name", "mode", "accountStatus", "localStatus", "remoteStatus")
			})
		},
	}
	cmd.AddCommand(create, list)
	addMemberCmds(g, cmd)
	return cmd
}

// table prints rows for people, one per line, columns aligned; cells are
// escaped for the terminal (names come from other people).
func (g *globals) table(rows []map[string]any, cols ...string) error {
	cells := make([][]string, len(rows))
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = len(c)
	}
	for r, row := range rows {
		cells[r] = make([]string, len(cols))
		for i, c := range cols {
			cells[r][i] = escapeText(fmt.Sprint(row[c]))
			widths[i] = max(widths[i], utf8.RuneCountInString(cells[r][i]))
		}
	}
	line := func(cell func(i int) string) {
		parts := make([]string, len(cols))
		for i := range cols {
			v := cell(i)
			parts[i] = v + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v))
		}
		fmt.Fprintln(g.stdout, strings.TrimRight(strings.Join(parts, "  "), " "))
	}
	line(func(i int) string { return strings.ToUpper(cols[i]) })
	for r := range rows {
		line(func(i int) string { return cells[r][i] })
	}
	return nil
}
