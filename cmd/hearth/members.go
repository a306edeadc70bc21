package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

var roleWords = []string{"none", "reader", "writer", "admin", "owner"}
var memberStatusWords = []string{"active", "joining", "removed", "left", "declined"}

func parseRole(s string) (pb.Model_Role, error) {
	switch strings.ToLower(s) {
	case "", "writer":
		return pb.Model_ROLE_WRITER, nil
	case "reader":
		return pb.Model_ROLE_READER, nil
	}
	return 0, fail("bad_input", "role", "--role is writer or reader")
}

func memberRows(ms []*pb.Model_Member, withRole bool) []map[string]any {
	rows := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		row := map[string]any{"identity": m.Identity, "name": m.Name}
		if withRole {
			row["role"] = word(roleWords, int32(m.Role))
			row["status"] = word(memberStatusWords, int32(m.Status))
		}
		rows = append(rows, row)
	}
	return rows
}

// addMemberCmds adds the space commands that need the node.
func addMemberCmds(g *globals, cmd *cobra.Command) {
	var role string
	var noApproval bool
	invite := &cobra.Command{
		Use:   "invite SPACE [--role writer|reader] [--no-approval]",
		Short: "Make an invite link",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			r, err := parseRole(role)
			if err != nil {
				return err
			}
			return g.call("space invite", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceInvite(ctx, &pb.Rpc_Space_Invite_Request{SpaceId: args[0], Role: r, NoApproval: noApproval})
				if err := c.check("space invite", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{"invite": resp.Invite}, "invite")
			})
		},
	}
	invite.Flags().StringVar(&role, "role", "writer", "writer or reader")
	invite.Flags().BoolVar(&noApproval, "no-approval", false, "joiners need no admin's approval")

	join := &cobra.Command{
		Use:   "join LINK",
		Short: "Join a space through an invite link",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space join", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceJoin(ctx, &pb.Rpc_Space_Join_Request{Invite: args[0]})
				if err := c.check("space join", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{"spaceId": resp.SpaceId, "accountStatus": word(accountStatusWords, int32(resp.AccountStatus))}, "spaceId", "accountStatus")
			})
		},
	}

	requests := &cobra.Command{
		Use:   "requests SPACE",
		Short: "List join requests waiting for approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space requests", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceRequests(ctx, &pb.Rpc_Space_Requests_Request{SpaceId: args[0]})
				if err := c.check("space requests", err, resp.GetError()); err != nil {
					return err
				}
				rows := memberRows(resp.Requests, false)
				if g.json {
					return g.output(map[string]any{"requests": rows})
				}
				return g.table(rows, "identity", "name")
			})
		},
	}

	var approveRole string
	approve := &cobra.Command{
		Use:   "approve SPACE IDENTITY [--role writer|reader]",
		Short: "Approve a join request",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			r, err := parseRole(approveRole)
			if err != nil {
				return err
			}
			return g.call("space approve", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceApprove(ctx, &pb.Rpc_Space_Approve_Request{SpaceId: args[0], Identity: args[1], Role: r})
				if err := c.check("space approve", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}
	approve.Flags().StringVar(&approveRole, "role", "writer", "writer or reader")

	decline := &cobra.Command{
		Use:   "decline SPACE IDENTITY",
		Short: "Decline a join request",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space decline", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceDecline(ctx, &pb.Rpc_Space_Decline_Request{SpaceId: args[0], Identity: args[1]})
				if err := c.check("space decline", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

	members := &cobra.Command{
		Use:   "members SPACE",
		Short: "List the space's members",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space members", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceMembers(ctx, &pb.Rpc_Space_Members_Request{SpaceId: args[0]})
				if err := c.check("space members", err, resp.GetError()); err != nil {
					return err
				}
				rows := memberRows(resp.Members, true)
				if g.json {
					return g.output(map[string]any{"members": rows})
				}
				return g.table(rows, "identity", "name", "role", "status")
			})
		},
	}

	kick := &cobra.Command{
		Use:   "kick SPACE IDENTITY",
		Short: "Remove a member (returns once the node accepted the removal)",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space kick", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceKick(ctx, &pb.Rpc_Space_Kick_Request{SpaceId: args[0], Identity: args[1]})
				if err := c.check("space kick", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

	leave := &cobra.Command{
		Use:   "leave SPACE",
		Short: "Leave a space",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space leave", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceLeave(ctx, &pb.Rpc_Space_Leave_Request{SpaceId: args[0]})
				if err := c.check("space leave", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

	del := &cobra.Command{
		Use:   "delete SPACE",
		Short: "Delete a space (the owner only; members are told)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space delete", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceDelete(ctx, &pb.Rpc_Space_Delete_Request{SpaceId: args[0]})
				if err := c.check("space delete", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}
	var force bool
	offload := &cobra.Command{
		Use:   "offload SPACE [--force]",
		Short: "Free the space's local data and stay a member",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space offload", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceOffload(ctx, &pb.Rpc_Space_Offload_Request{SpaceId: args[0], Force: force})
				if err := c.check("space offload", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}
	offload.Flags().BoolVar(&force, "force", false, "offload even if the node lacks local changes (they are lost)")

	var (
		noWait      bool
		loadTimeout time.Duration
	)
	load := &cobra.Command{
		Use:   "load SPACE [--no-wait] [--timeout D]",
		Short: "Download and load an offloaded space again",
		Long: "Download and load an offloaded space again. It returns once the space holds everything\n" +
			"the node had when the load began (a progress bar on a terminal), or with --no-wait as\n" +
			"soon as it is loaded, while it still fetches.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space load", func(c *client) error {
				return c.withProgress("space load", "fetching", func(progressID string) error {
					ctx, cancel := c.ctxFor(loadTimeout)
					defer cancel()
					resp, err := c.api.SpaceLoad(ctx, &pb.Rpc_Space_Load_Request{SpaceId: args[0], NoWait: noWait, ProgressId: progressID})
					if err := c.check("space load", err, resp.GetError()); err != nil {
						return err
					}
					return g.output(map[string]any{})
				})
			})
		},
	}
	load.Flags().BoolVar(&noWait, "no-wait", false, "return once the space is loaded, while it still fetches from the node")
	load.Flags().DurationVar(&loadTimeout, "timeout", 10*time.Minute, "how long to wait for the space's data")
	status := &cobra.Command{
		Use:   "status SPACE",
		Short: "Show a loaded space's sync status",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space status", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceStatus(ctx, &pb.Rpc_Space_Status_Request{SpaceId: args[0]})
				if err := c.check("space status", err, resp.GetError()); err != nil {
					return err
				}
				st := resp.Status
				out := map[string]any{
					"spaceId":        st.GetSpaceId(),
					"status":         st.GetStatus(),
					"error":          st.GetError(),
					"syncingObjects": st.GetSyncingObjects(),
					"pendingFiles":   st.GetPendingFiles(),
					"network":        st.GetNetwork(),
				}
				if ms := st.GetLastSyncedMs(); ms > 0 {
					out["lastSynced"] = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
				}
				return g.output(out, "spaceId", "status", "error", "syncingObjects", "pendingFiles", "network")
			})
		},
	}
	cmd.AddCommand(invite, join, requests, approve, decline, members, kick, leave, del, offload, load, status)
}
