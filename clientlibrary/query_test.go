package clientlibrary

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/pb"
)

// TestQueryTotalIsExactOnlyWhenAsked: ObjectQuery counts every match when
// exactTotal is set; without it a query that can stop at the page reports a
// lower bound with hasMore, and a page that reaches the end is exact.
func TestQueryTotalIsExactOnlyWhenAsked(t *testing.T) {
	lib := newLibrary(t)
	sp := accountAndSpace(t, lib)
	for i := range 7 {
		run(t, lib, "ObjectCreate", &pb.Rpc_Object_Create_Request{SpaceId: sp, Type: "task",
			Details: map[string]*pb.Model_Value{"name": strValue(fmt.Sprint("t", i)), "open": {Kind: &pb.Model_Value_Bool{Bool: i%2 == 0}}}}, &pb.Rpc_Object_Create_Response{})
	}
	// A filter on a key no index covers: only counting every record gives
	// the total.
	open := []*pb.Model_Filter{{Key: "open", Condition: pb.Model_Filter_EQ, Value: &pb.Model_Value{Kind: &pb.Model_Value_Bool{Bool: true}}}}
	for _, tc := range []struct {
		name    string
		req     *pb.Rpc_Object_Query_Request
		objects int
		total   int64
		exact   bool
		more    bool
	}{
		{"exact", &pb.Rpc_Object_Query_Request{SpaceId: sp, Filters: open, Limit: 2, ExactTotal: true}, 2, 4, true, true},
		{"lower bound", &pb.Rpc_Object_Query_Request{SpaceId: sp, Filters: open, Limit: 2}, 2, 3, false, true},
		{"last page", &pb.Rpc_Object_Query_Request{SpaceId: sp, Filters: open, Limit: 2, Offset: 2}, 2, 4, true, false},
		{"counter", &pb.Rpc_Object_Query_Request{SpaceId: sp, Filters: []*pb.Model_Filter{{Key: "type", Condition: pb.Model_Filter_EQ, Value: strValue("task")}},
			Sorts: []*pb.Model_Sort{{Key: "name"}}, Limit: 2}, 2, 7, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp pb.Rpc_Object_Query_Response
			run(t, lib, "ObjectQuery", tc.req, &resp)
			require.Len(t, resp.Objects, tc.objects)
			require.Equal(t, tc.total, resp.Total)
			require.Equal(t, tc.exact, resp.TotalExact)
			require.Equal(t, tc.more, resp.HasMore)
		})
	}
}
