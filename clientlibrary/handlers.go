package clientlibrary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hearth-sync/hearth/core/account"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/spaceindex"
)

// api implements Handlers over the library's core.
type api struct{ lib *Library }

var _ Handlers = (*api)(nil)

// apiError maps a core error to the API's error, at this edge only.
func apiError(err error) *pb.Rpc_Error {
	if err == nil {
		return nil
	}
	code := pb.Rpc_Error_UNKNOWN_ERROR
	switch {
	case errors.Is(err, account.ErrNoAccount):
		return &pb.Rpc_Error{Code: pb.Rpc_Error_NO_ACCOUNT, Description: describe(err)}
	case errors.Is(err, spaceindex.ErrSpaceNotLoaded):
		return &pb.Rpc_Error{Code: pb.Rpc_Error_SPACE_NOT_LOADED, Description: describe(err)}
	case errors.Is(err, spaceindex.ErrSpaceRemoved):
		return &pb.Rpc_Error{Code: pb.Rpc_Error_SPACE_REMOVED, Description: describe(err)}
	}
	switch errkind.Of(err) {
	case errkind.Invalid:
		code = pb.Rpc_Error_BAD_INPUT
	case errkind.NotFound:
		code = pb.Rpc_Error_NOT_FOUND
	case errkind.Exists:
		code = pb.Rpc_Error_ALREADY_EXISTS
	case errkind.Permission:
		code = pb.Rpc_Error_PERMISSION_DENIED
	case errkind.Unauthenticated:
		code = pb.Rpc_Error_UNAUTHENTICATED
	case errkind.Locked:
		code = pb.Rpc_Error_DATA_DIR_LOCKED
	case errkind.Precondition:
		code = pb.Rpc_Error_FAILED_PRECONDITION
	case errkind.Removed:
		code = pb.Rpc_Error_SPACE_REMOVED
	case errkind.Transient:
		code = pb.Rpc_Error_NODE_UNAVAILABLE
	case errkind.Corrupt:
		code = pb.Rpc_Error_CORRUPT_DATA
	case errkind.Quota:
		code = pb.Rpc_Error_QUOTA_EXCEEDED
	case errkind.Busy:
		code = pb.Rpc_Error_BUSY
	case errkind.NoSpace:
		code = pb.Rpc_Error_NO_SPACE
	}
	return &pb.Rpc_Error{Code: code, Description: describe(err)}
}

func badInput(desc string) *pb.Rpc_Error {
	return &pb.Rpc_Error{Code: pb.Rpc_Error_BAD_INPUT, Description: desc}
}

func (a *api) modelAccount(info account.Info) *pb.Model_Account {
	return &pb.Model_Account{Id: string(info.ID), DeviceId: string(info.DeviceID), Name: info.Name, Node: a.lib.app.Node()}
}

// showAccount tells every session which account is now selected.
func (a *api) showAccount(m *pb.Model_Account) {
	a.lib.emit(m.Id, &pb.Event_Message{Value: &pb.Event_Message_AccountShow{
		AccountShow: &pb.Event_Account_Show{Account: m},
	}})
}

func (a *api) AppGetVersion(context.Context, *pb.Rpc_App_GetVersion_Request) *pb.Rpc_App_GetVersion_Response {
	return &pb.Rpc_App_GetVersion_Response{Version: a.lib.version}
}

func (a *api) SessionCreate(ctx context.Context, req *pb.Rpc_Session_Create_Request) *pb.Rpc_Session_Create_Response {
	if !CallerFrom(ctx).Root && !a.lib.IsRootToken(req.Token) {
		return &pb.Rpc_Session_Create_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_UNAUTHENTICATED, Description: "the root token is missing or wrong"}}
	}
	s := a.lib.NewSession(req.AppName)
	return &pb.Rpc_Session_Create_Response{Token: s.Token()}
}

func (a *api) SessionClose(ctx context.Context, req *pb.Rpc_Session_Close_Request) *pb.Rpc_Session_Close_Response {
	token := req.Token
	if c := CallerFrom(ctx); token == "" && c.Session != nil {
		token = c.Session.Token()
	}
	if token == "" {
		return &pb.Rpc_Session_Close_Response{Error: badInput("no session token")}
	}
	if c := CallerFrom(ctx); !c.Root && (c.Session == nil || c.Session.Token() != token) {
		return &pb.Rpc_Session_Close_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_PERMISSION_DENIED, Description: "a session may close only itself"}}
	}
	if !a.lib.hub.Close(token) {
		return &pb.Rpc_Session_Close_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_NOT_FOUND, Description: "no such session"}}
	}
	return &pb.Rpc_Session_Close_Response{}
}

func (a *api) AccountCreate(ctx context.Context, req *pb.Rpc_Account_Create_Request) *pb.Rpc_Account_Create_Response {
	name, perr := displayName(req.Name, true)
	if perr != nil {
		return &pb.Rpc_Account_Create_Response{Error: perr}
	}
	info, mnemonic, err := a.lib.app.Accounts().Create(name)
	if err != nil {
		return &pb.Rpc_Account_Create_Response{Error: apiError(err)}
	}
	a.lib.app.PublishAccountName(ctx, name)
	m := a.modelAccount(info)
	a.showAccount(m)
	return &pb.Rpc_Account_Create_Response{Account: m, Mnemonic: mnemonic}
}

func (a *api) AccountRecover(ctx context.Context, req *pb.Rpc_Account_Recover_Request) *pb.Rpc_Account_Recover_Response {
	if req.Mnemonic == "" {
		return &pb.Rpc_Account_Recover_Response{Error: badInput("the mnemonic is empty")}
	}
	name, perr := displayName(req.Name, false)
	if perr != nil {
		return &pb.Rpc_Account_Recover_Response{Error: perr}
	}
	info, err := a.lib.app.Accounts().Recover(req.Mnemonic, name)
	if err != nil {
		resp := &pb.Rpc_Account_Recover_Response{Error: apiError(err)}
		if errkind.Is(err, errkind.Invalid) {
			resp.Error.Code = pb.Rpc_Error_BAD_MNEMONIC
		}
		return resp
	}
	if name != "" {
		a.lib.app.PublishAccountName(ctx, name)
	} else {
		// A recovered device learns the name from the account space once it
		// synced; it may know it already (a data dir that had the account).
		info.Name = a.lib.app.AccountName(ctx)
	}
	m := a.modelAccount(info)
	a.showAccount(m)
	return &pb.Rpc_Account_Recover_Response{Account: m}
}

func (a *api) AccountSelect(_ context.Context, req *pb.Rpc_Account_Select_Request) *pb.Rpc_Account_Select_Response {
	if req.AccountId == "" {
		return &pb.Rpc_Account_Select_Response{Error: badInput("no account id")}
	}
	info, err := a.lib.app.Accounts().Select(req.AccountId)
	if err != nil {
		return &pb.Rpc_Account_Select_Response{Error: apiError(err)}
	}
	m := a.modelAccount(info)
	a.showAccount(m)
	return &pb.Rpc_Account_Select_Response{Account: m}
}

func (a *api) AccountShow(ctx context.Context, _ *pb.Rpc_Account_Show_Request) *pb.Rpc_Account_Show_Response {
	acc, err := a.lib.app.Accounts().Current()
	if err != nil {
		return &pb.Rpc_Account_Show_Response{Error: apiError(err)}
	}
	info := acc.Info()
	info.Name = a.lib.app.AccountName(ctx)
	return &pb.Rpc_Account_Show_Response{Account: a.modelAccount(info)}
}

func (a *api) AccountList(context.Context, *pb.Rpc_Account_List_Request) *pb.Rpc_Account_List_Response {
	accounts := a.lib.app.Accounts()
	entries, err := accounts.Entries()
	if err != nil {
		return &pb.Rpc_Account_List_Response{Error: apiError(err)}
	}
	resp := &pb.Rpc_Account_List_Response{AccountIds: make([]string, 0, len(entries)), Accounts: make([]*pb.Model_AccountEntry, 0, len(entries))}
	for _, e := range entries {
		resp.AccountIds = append(resp.AccountIds, string(e.ID))
		resp.Accounts = append(resp.Accounts, &pb.Model_AccountEntry{Id: string(e.ID), Name: e.Name, Selected: e.Selected})
		if e.Selected {
			resp.SelectedId = string(e.ID)
		}
	}
	return resp
}

// displayName checks a display name from a caller: trimmed, not empty when
// required, at most protocol.MaxNameSize bytes of UTF-8.
func displayName(name string, required bool) (string, *pb.Rpc_Error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" && required:
		return "", badInput("the name is empty: give the account a display name (--name), shown to the members of your spaces")
	case len(name) > protocol.MaxNameSize:
		return "", badInput(fmt.Sprintf("the name is %d bytes, at most %d", len(name), protocol.MaxNameSize))
	case !utf8.ValidString(name):
		return "", badInput("the name is not valid UTF-8")
	}
	return name, nil
}

func (a *api) AccountStop(context.Context, *pb.Rpc_Account_Stop_Request) *pb.Rpc_Account_Stop_Response {
	acc, err := a.lib.app.Accounts().Current()
	if err != nil {
		return &pb.Rpc_Account_Stop_Response{Error: apiError(err)}
	}
	id := string(acc.Info().ID)
	if err := a.lib.app.Accounts().Stop(); err != nil {
		return &pb.Rpc_Account_Stop_Response{Error: apiError(err)}
	}
	a.lib.emit(id, &pb.Event_Message{Value: &pb.Event_Message_AccountStopped{
		AccountStopped: &pb.Event_Account_Stopped{AccountId: id},
	}})
	return &pb.Rpc_Account_Stop_Response{}
}
