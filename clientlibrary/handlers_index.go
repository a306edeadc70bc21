package clientlibrary

import (
	"context"

	"github.com/hearth-sync/hearth/pb"
)

func (a *api) IndexRebuild(ctx context.Context, req *pb.Rpc_Index_Rebuild_Request) *pb.Rpc_Index_Rebuild_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Index_Rebuild_Response{Error: perr}
	}
	st, err := a.lib.app.RebuildIndex(ctx, req.SpaceId, req.Source, req.ProgressId)
	if err != nil {
		return &pb.Rpc_Index_Rebuild_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Index_Rebuild_Response{
		Source:         st.Source.String(),
		ObjectsScanned: st.Scanned,
		ObjectsIndexed: st.Indexed,
		ObjectsSkipped: st.Skipped,
		ObjectsFailed:  st.Failed,
		DurationMs:     st.Duration.Milliseconds(),
		FailedObjects:  st.FailedObjects,
	}
}

func (a *api) IndexVerify(ctx context.Context, req *pb.Rpc_Index_Verify_Request) *pb.Rpc_Index_Verify_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Index_Verify_Response{Error: perr}
	}
	rep, err := a.lib.app.VerifyIndex(ctx, req.SpaceId, req.Repair, req.ProgressId)
	if err != nil {
		return &pb.Rpc_Index_Verify_Response{Error: a.spaceError(id, err)}
	}
	list := make([]string, len(rep.Mismatches))
	for i, m := range rep.Mismatches {
		list[i] = m.ID + ": " + m.What
	}
	return &pb.Rpc_Index_Verify_Response{
		Objects:      rep.Objects,
		Mismatches:   int64(len(rep.Mismatches)),
		Repaired:     rep.Repaired,
		MismatchList: list,
	}
}
