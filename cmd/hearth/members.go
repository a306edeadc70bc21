package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

// roleWords are the member roles' words; ROLE_NONE ("not a member") is never
// printed: the daemon lists a former member with the role it last held.
var roleWords = []string{"", "reader", "writer", "admin", "owner"}
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

func memberRows(ms []*pb.Model_Member) []map[string]any {
	rows := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, map[string]any{"identity": m.Identity, "name": m.Name,
			"role": word(roleWords, int32(m.Role)), "status": word(memberStatusWords, int32(m.Status))})
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

	invites := &cobra.Command{
		Use:   "invites SPACE",
		Short: "List the space's open invites",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space invites", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceInvites(ctx, &pb.Rpc_Space_Invites_Request{SpaceId: args[0]})
				if err := c.check("space invites", err, resp.GetError()); err != nil {
					return err
				}
				rows := make([]map[string]any, 0, len(resp.Invites))
				for _, in := range resp.Invites {
					rows = append(rows, map[string]any{
						"inviteId": in.InviteId, "role": word(roleWords, int32(in.Role)), "requiresApproval": !in.NoApproval,
						"created": msTime(in.CreatedMs), "createdBy": in.Creator, "createdByName": in.CreatorName,
					})
				}
				if g.json {
					return g.output(map[string]any{"invites": rows})
				}
				return g.table(rows, "inviteId", "role", "requiresApproval", "created", "createdByName", "createdBy")
			})
		},
	}

	inviteRevoke := &cobra.Command{
		Use:   "invite-revoke SPACE INVITE",
		Short: "Close an open invite: its link admits nobody any more",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space invite-revoke", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceInviteRevoke(ctx, &pb.Rpc_Space_InviteRevoke_Request{SpaceId: args[0], InviteId: args[1]})
				if err := c.check("space invite-revoke", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}

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
				rows := memberRows(resp.Requests)
				if g.json {
					return g.output(map[string]any{"requests": rows})
				}
				return g.table(rows, "identity", "name", "role")
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
				rows := memberRows(resp.Members)
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
				if n := resp.InvitesRevoked; n > 0 {
					g.human("%d open invite(s) closed with the removal (the removed member may have known the links): make new ones with 'hearth space invite'.", n)
				}
				return g.output(map[string]any{"invitesRevoked": resp.InvitesRevoked})
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

	var yes bool
	del := &cobra.Command{
		Use:   "delete SPACE [--yes]",
		Short: "Delete a space for every member (the owner only; asks first unless --yes)",
		Long: `Deletes the space for every member: the node keeps it pending deletion for its
grace period (the owner can restore it with 'hearth space delete-cancel'), then
deletes it; members are told and their devices free its data. Asks for
confirmation on a terminal; elsewhere (and with --json) it needs --yes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space delete", func(c *client) error {
				if !yes {
					if err := g.confirmDelete(c, args[0]); err != nil {
						return err
					}
				}
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceDelete(ctx, &pb.Rpc_Space_Delete_Request{SpaceId: args[0]})
				if err := c.check("space delete", err, resp.GetError()); err != nil {
					return err
				}
				out := map[string]any{}
				if at := resp.DeletionAtMs; at > 0 {
					out["deletionAt"] = msTime(at)
					g.human("Space %s is deleted for every member. The node deletes it for good at %s; until then 'hearth space delete-cancel %s' restores it.",
						args[0], msTime(at), args[0])
				}
				return g.output(out)
			})
		},
	}
	del.Flags().BoolVar(&yes, "yes", false, "delete without asking")

	deleteCancel := &cobra.Command{
		Use:   "delete-cancel SPACE",
		Short: "Cancel a space's pending deletion (the owner only, within the grace period)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("space delete-cancel", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.SpaceDeleteCancel(ctx, &pb.Rpc_Space_DeleteCancel_Request{SpaceId: args[0]})
				if err := c.check("space delete-cancel", err, resp.GetError()); err != nil {
					return err
				}
				g.human("Space %s is restored and loaded here. Members load it again with 'hearth space load %s'.", args[0], args[0])
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
				return g.output(statusOut(resp.Status), statusFields...)
			})
		},
	}
	cmd.AddCommand(invite, invites, inviteRevoke, join, requests, approve, decline, members, kick, leave, del, deleteCancel,
		offload, load, status, newWaitSyncedCmd(g))
}

var statusFields = []string{"spaceId", "status", "error", "syncingObjects", "pendingFiles", "network"}

// statusOut is a space's sync status as the CLI prints it.
func statusOut(st *pb.Model_SpaceSyncStatus) map[string]any {
	out := map[string]any{
		"spaceId":        st.GetSpaceId(),
		"status":         st.GetStatus(),
		"error":          st.GetError(),
		"syncingObjects": st.GetSyncingObjects(),
		"pendingFiles":   st.GetPendingFiles(),
		"network":        st.GetNetwork(),
	}
	if ms := st.GetLastSyncedMs(); ms > 0 {
		out["lastSynced"] = msTime(ms)
	}
	return out
}

// msTime prints unix milliseconds as RFC 3339 in UTC ("" for 0).
func msTime(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

// confirmDelete asks on a terminal before a delete; elsewhere it refuses
// without --yes (a script must say so).
func (g *globals) confirmDelete(c *client, id string) error {
	if g.json || !isTerminal(g.stdin) || !isTerminal(g.stderr) {
		return usage("space delete", "deleting a space for every member needs --yes (or a terminal to confirm on)")
	}
	name := ""
	ctx, cancel := c.ctx()
	resp, err := c.api.SpaceList(ctx, &pb.Rpc_Space_List_Request{})
	cancel()
	if err == nil {
		for _, s := range resp.Spaces {
			if s.SpaceId == id {
				name = s.Name
			}
		}
	}
	fmt.Fprintf(g.stderr, "Delete space %s %q for every member? The owner can cancel during the node's grace period. [y/N] ", id, escapeText(name))
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fail("canceled", "space delete", "not confirmed: nothing was deleted")
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
