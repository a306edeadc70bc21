package clientlibrary

import (
	"context"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/spaceindex"
)

// defaultQueryLimit is the page size when a query names none (CLI.md).
const defaultQueryLimit = 100

// maxQueryLimit bounds one page.
const maxQueryLimit = 10_000

// loadedSpace resolves a space id to the loaded space, loading it; a space
// that cannot be used is explained (spaces.go).
func (a *api) loadedSpace(ctx context.Context, id string) (*space.Space, error) {
	sid, err := parseSpaceID(id)
	if err != nil {
		return nil, err
	}
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return nil, err
	}
	if in, err := spaces.Info(sid); err == nil && in.Account {
		return nil, notFound(sid) // internal: never reachable through the API
	}
	sp, err := spaces.Get(ctx, sid)
	return sp, a.explain(sid, err)
}

func (a *api) SpaceCreate(ctx context.Context, req *pb.Rpc_Space_Create_Request) *pb.Rpc_Space_Create_Response {
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return &pb.Rpc_Space_Create_Response{Error: apiError(err)}
	}
	id, err := spaces.Create(ctx, req.Name)
	if err != nil {
		return &pb.Rpc_Space_Create_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Space_Create_Response{SpaceId: string(id)}
}

func (a *api) SpaceList(ctx context.Context, _ *pb.Rpc_Space_List_Request) *pb.Rpc_Space_List_Response {
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return &pb.Rpc_Space_List_Response{Error: apiError(err)}
	}
	entries, err := spaces.List()
	if err != nil {
		return &pb.Rpc_Space_List_Response{Error: apiError(err)}
	}
	out := make([]*pb.Model_Space, len(entries))
	for i, e := range entries {
		out[i] = core.ModelSpace(e)
	}
	resp := &pb.Rpc_Space_List_Response{Spaces: out}
	if acc, err := a.lib.app.Accounts().Current(); err == nil {
		info := acc.Info()
		info.Name = a.lib.app.AccountName(ctx)
		resp.Account = a.modelAccount(info)
	}
	return resp
}

func (a *api) ObjectCreate(ctx context.Context, req *pb.Rpc_Object_Create_Request) *pb.Rpc_Object_Create_Response {
	details, err := fromAPIDetails(req.Details)
	if err != nil {
		return &pb.Rpc_Object_Create_Response{Error: badInput(err.Error())}
	}
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Object_Create_Response{Error: apiError(err)}
	}
	id, err := sp.CreateObject(ctx, req.Type, details)
	if err != nil {
		return &pb.Rpc_Object_Create_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Object_Create_Response{ObjectId: string(id)}
}

func (a *api) objectID(id string) (crypto.ObjectID, error) {
	if _, err := crypto.ParseObjectID(id); err != nil {
		return "", errkind.E("object", errkind.Invalid, err)
	}
	return crypto.ObjectID(id), nil
}

func (a *api) ObjectSet(ctx context.Context, req *pb.Rpc_Object_Set_Request) *pb.Rpc_Object_Set_Response {
	details, err := fromAPIDetails(req.Details)
	if err != nil {
		return &pb.Rpc_Object_Set_Response{Error: badInput(err.Error())}
	}
	id, err := a.objectID(req.ObjectId)
	if err != nil {
		return &pb.Rpc_Object_Set_Response{Error: apiError(err)}
	}
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Object_Set_Response{Error: apiError(err)}
	}
	if err := sp.UpdateObject(ctx, id, details, nil); err != nil {
		return &pb.Rpc_Object_Set_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Object_Set_Response{}
}

func (a *api) ObjectUnset(ctx context.Context, req *pb.Rpc_Object_Unset_Request) *pb.Rpc_Object_Unset_Response {
	id, err := a.objectID(req.ObjectId)
	if err != nil {
		return &pb.Rpc_Object_Unset_Response{Error: apiError(err)}
	}
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Object_Unset_Response{Error: apiError(err)}
	}
	if err := sp.UpdateObject(ctx, id, nil, req.Keys); err != nil {
		return &pb.Rpc_Object_Unset_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Object_Unset_Response{}
}

func (a *api) ObjectGet(ctx context.Context, req *pb.Rpc_Object_Get_Request) *pb.Rpc_Object_Get_Response {
	id, err := a.objectID(req.ObjectId)
	if err != nil {
		return &pb.Rpc_Object_Get_Response{Error: apiError(err)}
	}
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Object_Get_Response{Error: apiError(err)}
	}
	obj, err := sp.Get(ctx, id)
	if err != nil {
		return &pb.Rpc_Object_Get_Response{Error: apiError(err)}
	}
	details := make(map[string]*pb.Model_Value, len(obj.Details)+3)
	for k, v := range obj.Details {
		details[k] = toAPIValue(v)
	}
	// The derived keys a query shows (type, created, modified) come from
	// the object's index record, written with the change.
	if rec, err := sp.Index().Get(ctx, string(id)); err == nil {
		for _, k := range []string{spaceindex.KeyType, spaceindex.KeyCreated, spaceindex.KeyModified} {
			if v, ok := rec.Details[k]; ok {
				details[k] = indexToAPIValue(v)
			}
		}
	}
	return &pb.Rpc_Object_Get_Response{Object: &pb.Model_Object{
		ObjectId:   string(obj.ID),
		Type:       obj.Type,
		Details:    details,
		SyncStatus: apiSyncStatus(obj.SyncStatus),
	}}
}

func (a *api) ObjectDelete(ctx context.Context, req *pb.Rpc_Object_Delete_Request) *pb.Rpc_Object_Delete_Response {
	id, err := a.objectID(req.ObjectId)
	if err != nil {
		return &pb.Rpc_Object_Delete_Response{Error: apiError(err)}
	}
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Object_Delete_Response{Error: apiError(err)}
	}
	if err := sp.DeleteObject(ctx, id); err != nil {
		return &pb.Rpc_Object_Delete_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Object_Delete_Response{}
}

func (a *api) ObjectQuery(ctx context.Context, req *pb.Rpc_Object_Query_Request) *pb.Rpc_Object_Query_Response {
	q := spaceindex.Query{Limit: int(req.Limit), Offset: int(req.Offset), Keys: req.Keys, ExactTotal: req.ExactTotal}
	switch {
	case req.Limit < 0 || req.Offset < 0:
		return &pb.Rpc_Object_Query_Response{Error: badInput("limit and offset must not be negative")}
	case req.Limit == 0:
		q.Limit = defaultQueryLimit
	case req.Limit > maxQueryLimit:
		return &pb.Rpc_Object_Query_Response{Error: badInput("limit is at most 10000")}
	}
	var err error
	if q.Filter, q.Sorts, err = toIndexQuery(req.Filters, req.Sorts, req.Text); err != nil {
		return &pb.Rpc_Object_Query_Response{Error: badInput(err.Error())}
	}
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Object_Query_Response{Error: apiError(err)}
	}
	res, err := sp.Query(ctx, q)
	if err != nil {
		return &pb.Rpc_Object_Query_Response{Error: apiError(err)}
	}
	out := make([]*pb.Model_Object, len(res.Records))
	for i, r := range res.Records {
		details := indexToAPIDetails(r.Details)
		typ := ""
		if t, ok := r.Details[spaceindex.KeyType]; ok {
			typ = t.AsString()
		}
		out[i] = &pb.Model_Object{ObjectId: r.ID, Type: typ, Details: details, SyncStatus: apiSyncStatus(r.SyncStatus)}
	}
	return &pb.Rpc_Object_Query_Response{Objects: out, Total: int64(res.Total), TotalExact: res.TotalExact, HasMore: res.HasMore}
}
