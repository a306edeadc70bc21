package main

import (
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
			return g.call("account create", func(c *client) error {
				ctx, cancel := c.ctx()
				defer cancel()
				resp, err := c.api.AccountCreate(ctx, &pb.Rpc_Account_Create_Request{Name: name})
				if err := c.check("account create", err, resp.GetError()); err != nil {
					return err
				}
				acc := resp.GetAccount()
				g.human("Write the mnemonic down: it is the only way to recover this account.")
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
				acc := resp.GetAccount()
				return g.output(map[string]any{"accountId": acc.GetId(), "deviceId": acc.GetDeviceId(), "name": acc.GetName(), "node": acc.GetNode()},
					"accountId", "deviceId", "name", "node")
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
				ids := resp.GetAccountIds()
				if ids == nil {
					ids = []string{}
				}
				return g.output(map[string]any{"accounts": ids}, "accounts")
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
	cmd.AddCommand(create, recoverCmd, show, list, stop)
	return cmd
}
