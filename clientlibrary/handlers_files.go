package clientlibrary

import (
	"context"
	"time"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// fileSpaceID parses a request's space id.
func fileSpaceID(id string) (crypto.SpaceID, error) {
	if _, err := crypto.ParseSpaceID(id); err != nil {
		return "", errkind.E("files", errkind.Invalid, err)
	}
	return crypto.SpaceID(id), nil
}

func (a *api) FileAdd(ctx context.Context, req *pb.Rpc_File_Add_Request) *pb.Rpc_File_Add_Response {
	id, err := fileSpaceID(req.SpaceId)
	if err != nil {
		return &pb.Rpc_File_Add_Response{Error: apiError(err)}
	}
	if req.Path == "" {
		return &pb.Rpc_File_Add_Response{Error: badInput("file add: no path")}
	}
	app := a.lib.app
	res, err := app.FileAdd(ctx, id, req.Path, app.NewProgress(req.ProgressId, "file.add", "bytes"))
	if err != nil {
		return &pb.Rpc_File_Add_Response{Error: apiError(err)}
	}
	return &pb.Rpc_File_Add_Response{FileId: res.FileID, ObjectId: string(res.ObjectID), Size_: res.Size}
}

func (a *api) FileGet(ctx context.Context, req *pb.Rpc_File_Get_Request) *pb.Rpc_File_Get_Response {
	id, err := fileSpaceID(req.SpaceId)
	if err != nil {
		return &pb.Rpc_File_Get_Response{Error: apiError(err)}
	}
	if req.OutPath == "" {
		return &pb.Rpc_File_Get_Response{Error: badInput("file get: no output path")}
	}
	app := a.lib.app
	n, err := app.FileGet(ctx, id, req.FileId, req.OutPath, app.NewProgress(req.ProgressId, "file.get", "bytes"))
	if err != nil {
		return &pb.Rpc_File_Get_Response{Error: apiError(err)}
	}
	return &pb.Rpc_File_Get_Response{Size_: n}
}

func (a *api) FileGc(ctx context.Context, req *pb.Rpc_File_Gc_Request) *pb.Rpc_File_Gc_Response {
	if req.GraceSeconds < -1 {
		return &pb.Rpc_File_Gc_Response{Error: badInput("file gc: graceSeconds must be -1 (default) or more")}
	}
	grace := time.Duration(req.GraceSeconds) * time.Second
	if req.GraceSeconds == -1 {
		grace = files.DefaultGrace
	}
	app := a.lib.app
	res, err := app.FileGC(ctx, grace, app.NewProgress(req.ProgressId, "file.gc", "blobs"))
	if err != nil {
		return &pb.Rpc_File_Gc_Response{Error: apiError(err)}
	}
	return &pb.Rpc_File_Gc_Response{BlobsRemoved: int64(res.BlobsRemoved), BytesFreed: res.BytesFreed}
}

func (a *api) FileStatus(ctx context.Context, req *pb.Rpc_File_Status_Request) *pb.Rpc_File_Status_Response {
	id, err := fileSpaceID(req.SpaceId)
	if err != nil {
		return &pb.Rpc_File_Status_Response{Error: apiError(err)}
	}
	if err := files.CheckID(req.FileId); err != nil {
		return &pb.Rpc_File_Status_Response{Error: apiError(err)}
	}
	st, msg, err := a.lib.app.FileStatus(ctx, id, req.FileId)
	if err != nil {
		return &pb.Rpc_File_Status_Response{Error: apiError(err)}
	}
	return &pb.Rpc_File_Status_Response{Status: st.String(), ErrorMessage: msg}
}

func (a *api) FileRepairRefcounts(ctx context.Context, _ *pb.Rpc_File_RepairRefcounts_Request) *pb.Rpc_File_RepairRefcounts_Response {
	res, err := a.lib.app.FileRepairRefcounts(ctx)
	out := &pb.Rpc_File_RepairRefcounts_Response{
		Spaces: int64(res.Spaces), Kept: int64(res.Kept), Markers: int64(res.Markers),
		Added: int64(res.Added), Removed: int64(res.Removed),
	}
	if err != nil {
		out.Error = apiError(err)
	}
	return out
}
