package syncpb

import "testing"

// FuzzUnmarshal feeds arbitrary bytes to every message decoder: errors, never panics.
func FuzzUnmarshal(f *testing.F) {
	rec := &AclRecord{SpaceId: "s", Prev: "p", Op: &AclRecord_Remove{Remove: &AclRemove{Identities: [][]byte{{1}}, Rotation: &AclKeyRotation{KeyId: "k"}}}}
	b, _ := rec.Marshal()
	f.Add(b)
	ch := &Change{SpaceId: "s", Parents: []string{"a", "b"}, Encrypted: []byte{1, 2}}
	b, _ = ch.Marshal()
	f.Add(b)
	ops := &ChangeOps{Ops: []*Op{{Op: &Op_Set{Set: &OpSet{Key: "k", Value: &Value{Kind: &Value_List{List: &ListValue{Values: []*Value{{Kind: &Value_Number{Number: 1}}}}}}}}}}}
	b, _ = ops.Marshal()
	f.Add(b)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := []interface{ Unmarshal([]byte) error }{
			&Signed{}, &SpaceHeader{}, &AclRecord{}, &AclAccepted{}, &Change{}, &ChangeOps{},
			&HeadUpdate{}, &Ack{}, &FetchRequest{}, &FetchResponse{}, &AclAdd{}, &AclAddResponse{},
			&AclUpdate{}, &SpacePush{}, &SpacePull{}, &SpacePullResponse{}, &HeadSyncRequest{},
			&HeadSyncResponse{}, &SpaceStatus{}, &SpaceDelete{}, &SpaceDeleteRequest{}, &DeviceCert{},
			&FetchObjectsRequest{}, &FetchObjectsPage{},
		}
		for _, m := range msgs {
			_ = m.Unmarshal(data)
		}
	})
}
