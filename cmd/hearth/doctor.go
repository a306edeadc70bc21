package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

// newDoctorCmd is `hearth doctor`: one report of what a person checks
// first — is the daemon up, is an account selected, is the node reachable,
// which spaces are loaded and how they sync, what waits to upload, what
// failed. It exits 0 whenever it could report (problems are in the report).
func newDoctorCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Report daemon, node, account, loaded spaces, pending uploads and problems",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rep := g.diagnose()
			if g.json {
				return g.output(rep.json())
			}
			rep.print(g)
			return nil
		},
	}
}

type doctorReport struct {
	daemon   map[string]any
	account  map[string]any
	node     map[string]any
	spaces   []map[string]any
	known    int
	pending  int64
	problems []string
}

func (r *doctorReport) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (g *globals) diagnose() *doctorReport {
	r := &doctorReport{daemon: map[string]any{"running": false, "dataDir": g.dataDir}, spaces: []map[string]any{}}
	c, err := g.dial()
	if err != nil {
		var ce *cliError
		if errors.As(err, &ce) {
			r.problem("%s", ce.Error())
		}
		return r
	}
	defer c.Close()
	ctx, cancel := c.ctx()
	defer cancel()
	ver, err := c.api.AppGetVersion(ctx, &pb.Rpc_App_GetVersion_Request{})
	if err := c.check("daemon", err, ver.GetError()); err != nil {
		r.problem("%s", err.Error())
		return r
	}
	r.daemon = map[string]any{"running": true, "dataDir": g.dataDir, "grpc": c.info.GRPC, "grpcweb": c.info.GRPCWeb, "version": ver.Version}

	show, err := c.api.AccountShow(ctx, &pb.Rpc_Account_Show_Request{})
	if err := c.check("account", err, show.GetError()); err != nil {
		r.problem("%s", err.Error())
		return r
	}
	acc := show.GetAccount()
	r.account = accountOut(acc)
	r.node = map[string]any{"address": acc.GetNode(), "reachable": nil}
	if acc.GetNode() == "" {
		r.node["mode"] = "localOnly"
	}

	list, err := c.api.SpaceList(ctx, &pb.Rpc_Space_List_Request{})
	if err := c.check("space list", err, list.GetError()); err != nil {
		r.problem("%s", err.Error())
		return r
	}
	r.known = len(list.Spaces)
	for _, s := range list.Spaces {
		if s.LocalStatus == pb.Model_LOCAL_STATUS_ERROR {
			r.problem("space %s (%s): its local data could not be opened", s.SpaceId, escapeText(s.Name))
		}
		if s.Mode != pb.Model_SPACE_MODE_LOADED {
			continue
		}
		row := map[string]any{"spaceId": s.SpaceId, "name": s.Name}
		st, err := c.api.SpaceStatus(ctx, &pb.Rpc_Space_Status_Request{SpaceId: s.SpaceId})
		if err := c.check("space status", err, st.GetError()); err != nil {
			row["status"] = "unknown"
			r.problem("space %s: %s", s.SpaceId, err.Error())
		} else {
			for k, v := range statusOut(st.Status) {
				row[k] = v
			}
			r.pending += st.Status.GetPendingFiles()
			switch st.Status.GetNetwork() {
			case "online":
				r.node["reachable"] = true
			case "offline":
				if r.node["reachable"] == nil {
					r.node["reachable"] = false
				}
			}
			switch st.Status.GetStatus() {
			case "error":
				r.problem("space %s (%s) does not sync: %s", s.SpaceId, escapeText(s.Name), st.Status.GetError())
			case "limited":
				r.problem("space %s (%s) is over a quota of the node (%s): its changes wait on this device: %s", s.SpaceId,
					escapeText(s.Name), st.Status.GetError(), escapeText(st.Status.GetErrorMessage()))
			}
		}
		r.spaces = append(r.spaces, row)
	}
	if reachable, ok := r.node["reachable"].(bool); ok && !reachable {
		r.problem("the sync node %s is not reachable: changes wait on this device", acc.GetNode())
	}
	return r
}

func (r *doctorReport) json() map[string]any {
	problems := r.problems
	if problems == nil {
		problems = []string{}
	}
	out := map[string]any{
		"daemon": r.daemon, "account": r.account, "node": r.node,
		"knownSpaces": r.known, "loadedSpaces": r.spaces, "pendingUploads": r.pending, "problems": problems,
	}
	return out
}

func (r *doctorReport) print(g *globals) {
	p := func(format string, args ...any) { fmt.Fprintf(g.stdout, format+"\n", args...) }
	if r.daemon["running"] == true {
		p("daemon:   running (%v, grpc %v) for %s", r.daemon["version"], r.daemon["grpc"], g.dataDir)
	} else {
		p("daemon:   not running for %s", g.dataDir)
	}
	if r.account != nil {
		p("account:  %s (%s)", escapeText(fmt.Sprint(r.account["name"])), r.account["accountId"])
	}
	if r.node != nil {
		switch {
		case r.node["address"] == "":
			p("node:     none (local-only)")
		case r.node["reachable"] == true:
			p("node:     %v, reachable", r.node["address"])
		case r.node["reachable"] == false:
			p("node:     %v, NOT reachable", r.node["address"])
		default:
			p("node:     %v (no loaded space tells)", r.node["address"])
		}
	}
	if r.daemon["running"] == true && r.account != nil {
		p("spaces:   %d known, %d loaded; %d file(s) waiting to upload", r.known, len(r.spaces), r.pending)
		for _, s := range r.spaces {
			p("  %v  %-8v %s", s["spaceId"], s["status"], escapeText(fmt.Sprint(s["name"])))
		}
	}
	if len(r.problems) == 0 {
		p("problems: none")
		return
	}
	p("problems:")
	for _, pr := range r.problems {
		p("  - %s", escapeText(pr))
	}
}
