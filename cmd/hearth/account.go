package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/pb"
)

func newAccountCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Create, recover and show the account"}

	var name string
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create a new account and select it",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if strings.TrimSpace(name) == "" {
				return fail("bad_input", "account create", "the name is empty: give the account a display name (--name), shown to the members of your spaces")
			}
			return g.call("account create", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				before, _ := c.api.AccountShow(ctx, &pb.Rpc_Account_Show_Request{})
				resp, err := c.api.AccountCreate(ctx, &pb.Rpc_Account_Create_Request{Name: name})
				if err := c.check("account create", err, resp.GetError()); err != nil {
					return err
				}
				acc := resp.GetAccount()
				g.human("Write the mnemonic down: it is the only way to recover this account.")
				if prev := before.GetAccount(); before.GetError().GetCode() == pb.Rpc_Error_NULL && prev.GetId() != "" && prev.GetId() != acc.GetId() {
					g.human("The new account is now selected. Account %s (%s) stays on this data dir: 'hearth account select %s' switches back.",
						prev.GetName(), prev.GetId(), prev.GetId())
				}
				return g.output(map[string]any{"accountId": acc.GetId(), "deviceId": acc.GetDeviceId(), "mnemonic": resp.GetMnemonic()},
					"accountId", "deviceId", "mnemonic")
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "the account's display name")
	_ = create.MarkFlagRequired("name")

	var mnemonic, recoverName string
	recoverCmd := &cobra.Command{
		Use:   "recover --mnemonic \"WORDS\"",
		Short: "Recover an account from its mnemonic on this data dir, as a new device",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.call("account recover", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.AccountRecover(ctx, &pb.Rpc_Account_Recover_Request{Mnemonic: mnemonic, Name: recoverName})
				if err := c.check("account recover", err, resp.GetError()); err != nil {
					return err
				}
				acc := resp.GetAccount()
				return g.output(map[string]any{"accountId": acc.GetId(), "deviceId": acc.GetDeviceId()}, "accountId", "deviceId")
			})
		},
	}
	recoverCmd.Flags().StringVar(&mnemonic, "mnemonic", "", "the account's recovery words")
	recoverCmd.Flags().StringVar(&recoverName, "name", "", "a new display name (optional)")
	_ = recoverCmd.MarkFlagRequired("mnemonic")

	selectCmd := &cobra.Command{
		Use:   "select ACCOUNT",
		Short: "Select another account stored on this data dir (see 'hearth account list')",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.call("account select", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.AccountSelect(ctx, &pb.Rpc_Account_Select_Request{AccountId: args[0]})
				if err := c.check("account select", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(accountOut(resp.GetAccount()), "accountId", "deviceId", "name", "node")
			})
		},
	}

	show := &cobra.Command{
		Use:   "show",
		Short: "Show the selected account",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.call("account show", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.AccountShow(ctx, &pb.Rpc_Account_Show_Request{})
				if err := c.check("account show", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(accountOut(resp.GetAccount()), "accountId", "deviceId", "name", "node")
			})
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the accounts stored on this data dir",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.call("account list", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.AccountList(ctx, &pb.Rpc_Account_List_Request{})
				if err := c.check("account list", err, resp.GetError()); err != nil {
					return err
				}
				rows := make([]map[string]any, 0, len(resp.GetAccounts()))
				for _, a := range resp.GetAccounts() {
					rows = append(rows, map[string]any{"accountId": a.Id, "name": a.Name, "selected": a.Selected})
				}
				if g.json {
					return g.output(map[string]any{"accounts": rows, "selected": resp.GetSelectedId()})
				}
				return g.table(rows, "accountId", "name", "selected")
			})
		},
	}

	stop := &cobra.Command{
		Use:   "stop",
		Short: "Stop the selected account (close its databases)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.call("account stop", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.AccountStop(ctx, &pb.Rpc_Account_Stop_Request{})
				if err := c.check("account stop", err, resp.GetError()); err != nil {
					return err
				}
				return g.output(map[string]any{})
			})
		},
	}
	cmd.AddCommand(create, recoverCmd, selectCmd, show, list, stop)
	return cmd
}

// accountOut is an account as the CLI prints it.
func accountOut(acc *pb.Model_Account) map[string]any {
	return map[string]any{"accountId": acc.GetId(), "deviceId": acc.GetDeviceId(), "name": acc.GetName(), "node": acc.GetNode()}
}
