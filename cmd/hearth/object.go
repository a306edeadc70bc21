package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

func newObjectCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "object", Short: "Create, change, read and query objects"}

	var typ string
	create := &cobra.Command{
		Use:   "create SPACE [--type TYPE] [KEY=VALUE ...]",
		Short: "Create an object",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			details, err := parseAssignments(args[1:])
			if err != nil {
				return fail("bad_input", "object create", err.Error())
			}
			return g.call("object create", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.ObjectCreate(ctx, &pb.Rpc_Object_Create_Request{SpaceId: args[0], Type: typ, Details: details})
				if err := c.check("object create", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{"objectId": resp.ObjectId}, "objectId")
			})
		},
	}
	create.Flags().StringVar(&typ, "type", "", "the object's type")

	set := &cobra.Command{
		Use:   "set SPACE OBJECT KEY=VALUE ...",
		Short: "Set details of an object",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(_ *cobra.Command, args []string) error {
			details, err := parseAssignments(args[2:])
			if err != nil {
				return fail("bad_input", "object set", err.Error())
			}
			return g.call("object set", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.ObjectSet(ctx, &pb.Rpc_Object_Set_Request{SpaceId: args[0], ObjectId: args[1], Details: details})
				if err := c.check("object set", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

	unset := &cobra.Command{
		Use:   "unset SPACE OBJECT KEY ...",
		Short: "Remove details of an object",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("object unset", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.ObjectUnset(ctx, &pb.Rpc_Object_Unset_Request{SpaceId: args[0], ObjectId: args[1], Keys: args[2:]})
				if err := c.check("object unset", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

	get := &cobra.Command{
		Use:   "get SPACE OBJECT",
		Short: "Show an object",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("object get", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.ObjectGet(ctx, &pb.Rpc_Object_Get_Request{SpaceId: args[0], ObjectId: args[1]})
				if err := c.check("object get", err, resp.GetError()); err != nil {
					return err
				}
				o := resp.Object
				out := map[string]any{
					"objectId":   o.GetObjectId(),
					"type":       o.GetType(),
					"details":    detailsToJSON(o.GetDetails()),
					"syncStatus": syncStatusWord(o.GetSyncStatus()),
				}
				if !g.json {
					d, _ := marshalJSON(out["details"])
					out["details"] = string(d)
				}
				return g.output(out, "objectId", "type", "syncStatus", "details")
			})
		},
	}

	del := &cobra.Command{
		Use:   "delete SPACE OBJECT",
		Short: "Delete an object",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("object delete", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.ObjectDelete(ctx, &pb.Rpc_Object_Delete_Request{SpaceId: args[0], ObjectId: args[1]})
				if err := c.check("object delete", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

	var (
		filters       []string
		sorts         []string
		limit, offset int32
		text          string
		exactTotal    bool
	)
	query := &cobra.Command{
		Use:   "query SPACE [--filter 'KEY OP VALUE']... [--sort KEY[:desc]]... [--limit N] [--offset N] [--text QUERY] [--total=false]",
		Short: "Query a space's objects",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			req := &pb.Rpc_Object_Query_Request{SpaceId: args[0], Limit: limit, Offset: offset, Text: text, ExactTotal: exactTotal}
			for _, f := range filters {
				pf, err := parseFilter(f)
				if err != nil {
					return fail("bad_input", "object query", err.Error())
				}
				req.Filters = append(req.Filters, pf)
			}
			for _, s := range sorts {
				key, dir, _ := strings.Cut(s, ":")
				switch dir {
				case "", "asc", "desc":
				default:
					return fail("bad_input", "object query", "--sort "+s+": direction is asc or desc")
				}
				req.Sorts = append(req.Sorts, &pb.Model_Sort{Key: key, Desc: dir == "desc"})
			}
			return g.call("object query", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.ObjectQuery(ctx, req)
				if err := c.check("object query", err, resp.GetError()); err != nil {
					return err
				}
				objects := make([]map[string]any, 0, len(resp.Objects))
				for _, o := range resp.Objects {
					objects = append(objects, map[string]any{"objectId": o.ObjectId, "details": detailsToJSON(o.Details)})
				}
				if g.json {
					return g.output(map[string]any{"objects": objects, "total": resp.Total,
						"totalExact": resp.TotalExact, "hasMore": resp.HasMore})
				}
				rows := make([]map[string]any, 0, len(objects))
				for _, o := range objects {
					d, _ := marshalJSON(o["details"])
					rows = append(rows, map[string]any{"objectId": o["objectId"], "details": string(d)})
				}
				if err := g.table(rows, "objectId", "details"); err != nil {
					return err
				}
				switch {
				case resp.TotalExact:
					g.human("%d of %d", len(objects), resp.Total)
				case resp.HasMore:
					g.human("%d of at least %d (more follow)", len(objects), resp.Total)
				}
				return nil
			})
		},
	}
	query.Flags().StringArrayVar(&filters, "filter", nil, "'KEY OP VALUE', repeatable (and-ed); OP one of = != > >= < <= in nin exists empty contains")
	query.Flags().StringArrayVar(&sorts, "sort", nil, "KEY or KEY:desc, repeatable")
	query.Flags().Int32Var(&limit, "limit", 100, "page size")
	query.Flags().Int32Var(&offset, "offset", 0, "skip this many")
	query.Flags().StringVar(&text, "text", "", "full-text query")
	query.Flags().BoolVar(&exactTotal, "total", true, "count every match for total; --total=false stops at the page (total is then a lower bound, hasMore says whether more follow)")

	cmd.AddCommand(create, set, unset, get, del, query)
	return cmd
}
