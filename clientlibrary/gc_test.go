package clientlibrary

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/pb"
)

// TestFileGcGraceBounded is the attack of issue 16.7: a grace in seconds so large that
// turning it into a time.Duration overflowed, wrapping round to a fraction of a second,
// and the collector deleted a blob a minute old. Past 100 years the grace is refused
// with BAD_INPUT and nothing is deleted.
func TestFileGcGraceBounded(t *testing.T) {
	lib := newLibrary(t)
	space := accountAndSpace(t, lib)
	path := filepath.Join(t.TempDir(), "f.txt")
	require.NoError(t, os.WriteFile(path, []byte("a young file"), 0o600))
	var add pb.Rpc_File_Add_Response
	run(t, lib, "FileAdd", &pb.Rpc_File_Add_Request{SpaceId: space, Path: path}, &add)
	// Its blobs are unreferenced now, and young.
	run(t, lib, "ObjectDelete", &pb.Rpc_Object_Delete_Request{SpaceId: space, ObjectId: add.ObjectId}, &pb.Rpc_Object_Delete_Response{})

	for _, secs := range []int64{18446744074 /* × 1e9 wraps to 0.29 s */, math.MaxInt64, 100*365*24*3600 + 1} {
		var gc pb.Rpc_File_Gc_Response
		req, err := (&pb.Rpc_File_Gc_Request{GraceSeconds: secs}).Marshal()
		require.NoError(t, err)
		require.NoError(t, gc.Unmarshal(lib.Command("FileGc", req)))
		require.NotNil(t, gc.Error, "grace %d", secs)
		assert.Equal(t, pb.Rpc_Error_BAD_INPUT, gc.Error.Code, "grace %d", secs)
		assert.Zero(t, gc.BlobsRemoved)
	}
	var gc pb.Rpc_File_Gc_Response
	run(t, lib, "FileGc", &pb.Rpc_File_Gc_Request{GraceSeconds: 100 * 365 * 24 * 3600}, &gc) // 100 years is fine
	assert.Zero(t, gc.BlobsRemoved, "nothing is that old")
	gc = pb.Rpc_File_Gc_Response{}
	run(t, lib, "FileGc", &pb.Rpc_File_Gc_Request{GraceSeconds: 0}, &gc)
	assert.Positive(t, gc.BlobsRemoved, "a grace of 0 takes the unreferenced blobs")
}
