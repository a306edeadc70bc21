package clientlibrary

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/spaceindex"
)

// The API's file ids are printable (base32, like every other id); core
// names blobs in hex (files.PublicID, files.ParseID). Requests take either.

func (a *api) FileAdd(ctx context.Context, req *pb.Rpc_File_Add_Request) *pb.Rpc_File_Add_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_File_Add_Response{Error: perr}
	}
	if req.Path == "" {
		return &pb.Rpc_File_Add_Response{Error: badInput("no path")}
	}
	app := a.lib.app
	res, err := app.FileAdd(ctx, id, req.Path, app.NewProgress(req.ProgressId, "file.add", "bytes"))
	if err != nil {
		return &pb.Rpc_File_Add_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_File_Add_Response{FileId: files.PublicID(res.FileID), ObjectId: string(res.ObjectID), Size_: res.Size}
}

func (a *api) FileGet(ctx context.Context, req *pb.Rpc_File_Get_Request) *pb.Rpc_File_Get_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_File_Get_Response{Error: perr}
	}
	fileID, err := files.ParseID(req.FileId)
	if err != nil {
		return &pb.Rpc_File_Get_Response{Error: apiError(err)}
	}
	if req.OutPath == "" {
		return &pb.Rpc_File_Get_Response{Error: badInput("no output path")}
	}
	if !req.Overwrite {
		// Checked before the download; the write itself replaces atomically.
		if _, err := os.Lstat(req.OutPath); err == nil {
			return &pb.Rpc_File_Get_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_ALREADY_EXISTS,
				Description: req.OutPath + " already exists: choose another path, or overwrite it (--force)"}}
		}
	}
	app := a.lib.app
	n, err := app.FileGet(ctx, id, fileID, req.OutPath, app.NewProgress(req.ProgressId, "file.get", "bytes"))
	if err != nil {
		return &pb.Rpc_File_Get_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_File_Get_Response{Size_: n}
}

func (a *api) FileGc(ctx context.Context, req *pb.Rpc_File_Gc_Request) *pb.Rpc_File_Gc_Response {
	if req.GraceSeconds < -1 || req.GraceSeconds > int64(files.MaxGrace/time.Second) {
		return &pb.Rpc_File_Gc_Response{Error: badInput(fmt.Sprintf("graceSeconds must be -1 (the default) or 0 to %d (100 years)", int64(files.MaxGrace/time.Second)))}
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
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_File_Status_Response{Error: perr}
	}
	fileID, err := files.ParseID(req.FileId)
	if err != nil {
		return &pb.Rpc_File_Status_Response{Error: apiError(err)}
	}
	st, msg, err := a.lib.app.FileStatus(ctx, id, fileID)
	if err != nil {
		return &pb.Rpc_File_Status_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_File_Status_Response{Status: st.String(), ErrorMessage: cleanMessage(msg)}
}

// maxListedFiles bounds one FileList answer.
const maxListedFiles = maxQueryLimit

func (a *api) FileList(ctx context.Context, req *pb.Rpc_File_List_Request) *pb.Rpc_File_List_Response {
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_File_List_Response{Error: apiError(err)}
	}
	res, err := sp.Query(ctx, spaceindex.Query{
		Filter: spaceindex.Eq(spaceindex.KeyType, spaceindex.String(space.FileType)),
		Sorts:  []spaceindex.Sort{{Key: spaceindex.KeyCreated}},
		Limit:  maxListedFiles,
	})
	if err != nil {
		return &pb.Rpc_File_List_Response{Error: apiError(err)}
	}
	out := make([]*pb.Model_File, 0, len(res.Records))
	for _, r := range res.Records {
		fileID, err := files.ParseID(r.Details[space.FileKeyID].AsString())
		if err != nil {
			continue // not a file object Hearth made
		}
		f := &pb.Model_File{
			FileId: files.PublicID(fileID), ObjectId: r.ID,
			Name: r.Details[space.FileKeyName].AsString(), Size_: int64(r.Details[space.FileKeySize].AsNumber()),
		}
		if st, msg, err := a.lib.app.FileStatus(ctx, sp.ID(), fileID); err == nil {
			f.Status, f.ErrorMessage = st.String(), cleanMessage(msg)
		} else {
			f.Status, f.ErrorMessage = "error", describe(err)
		}
		out = append(out, f)
	}
	return &pb.Rpc_File_List_Response{Files: out}
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
