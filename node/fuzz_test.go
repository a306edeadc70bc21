package node

import (
	"encoding/hex"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/hearth-sync/hearth/pb/syncpb"
)

// FuzzParentsOf feeds arbitrary stored change bytes to the parent decoder used by Fetch.
func FuzzParentsOf(f *testing.F) {
	p, _ := (&syncpb.Change{Parents: []string{"a", "b"}}).Marshal()
	env, _ := (&syncpb.Signed{Payload: p}).Marshal()
	f.Add(env)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parentsOf(b)
	})
}

// FuzzBlobRequests feeds arbitrary bytes to the decoders of the blob requests and to the
// one receive path of blob bytes: no panic, and a put passes only when its id is the
// lowercase hex blake3-256 of its bytes.
func FuzzBlobRequests(f *testing.F) {
	data := []byte("sealed chunk")
	sum := blake3.Sum256(data)
	put, _ := (&syncpb.BlobPutRequest{SpaceId: "s", Id: hex.EncodeToString(sum[:]), Data: data}).Marshal()
	del, _ := (&syncpb.BlobDeleteRequest{SpaceId: "s", Ids: []string{"a", hex.EncodeToString(sum[:])}}).Marshal()
	f.Add(put)
	f.Add(del)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p syncpb.BlobPutRequest
		if p.Unmarshal(b) == nil {
			err := checkBlob(p.Id, p.Data)
			sum := blake3.Sum256(p.Data)
			if ok := hex.EncodeToString(sum[:]) == p.Id && len(p.Data) <= MaxBlobSize; ok != (err == nil) {
				t.Fatalf("checkBlob(%q, %d bytes) = %v", p.Id, len(p.Data), err)
			}
		}
		var d syncpb.BlobDeleteRequest
		if d.Unmarshal(b) == nil {
			for _, id := range d.Ids {
				_ = checkBlobID(id)
			}
		}
		var g syncpb.BlobGetRequest
		if g.Unmarshal(b) == nil {
			_ = checkBlobID(g.Id)
		}
	})
}
