package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/mobile"
	"github.com/hearth-sync/hearth/pb"
)

// What a phone cares about, measured through the mobile facade's static
// functions (what the bindings call), with a real `hearth node` process
// configured (so that its heap is not this process's):
//
//	BenchmarkMobileStartup        StartWithConfig until the first answer, and until 5 spaces are loaded
//	BenchmarkMobileHeapPerSpace   Go heap in use per loaded space after 10k writes each (DESIGN §12: ≤ 32 MiB)
//	BenchmarkMobileLibrarySize    the gobind JNI shared library (host linux build)

func mobileConfig(b *testing.B, data string, node *nodeProc) []byte {
	cfg, err := (&pb.MobileConfig{DataDir: data, NodeAddrs: []string{node.addr}, NodeKey: node.key}).Marshal()
	require.NoError(b, err)
	return cfg
}

// mcall runs one command through the facade and decodes its response,
// failing on an error in it.
func mcall[R interface {
	Unmarshal([]byte) error
	GetError() *pb.Rpc_Error
}](b *testing.B, method string, req interface{ Marshal() ([]byte, error) }, resp R) R {
	raw, err := req.Marshal()
	require.NoError(b, err)
	out, err := mobile.Command(method, raw)
	require.NoError(b, err)
	require.NoError(b, resp.Unmarshal(out))
	require.Nil(b, resp.GetError(), "%s", method)
	return resp
}

// BenchmarkMobileStartup: StartWithConfig on a data dir with 5 spaces (and an
// object in each) until the first answer (the space list, every space kept on
// disk), and until all 5 spaces are loaded and have answered a query each (an
// app opening its screens: a space loads when used).
func BenchmarkMobileStartup(b *testing.B) {
	node := startNode(b, b.TempDir(), "")
	data := b.TempDir()
	cfg := mobileConfig(b, data, node)
	require.NoError(b, mobile.StartWithConfig(cfg, nil))
	b.Cleanup(func() { _ = mobile.Stop() })
	mcall(b, "AccountCreate", &pb.Rpc_Account_Create_Request{Name: "Phone"}, &pb.Rpc_Account_Create_Response{})
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = mcall(b, "SpaceCreate", &pb.Rpc_Space_Create_Request{Name: fmt.Sprint("space ", i)}, &pb.Rpc_Space_Create_Response{}).SpaceId
		mcall(b, "ObjectCreate", &pb.Rpc_Object_Create_Request{SpaceId: ids[i], Type: "note"}, &pb.Rpc_Object_Create_Response{})
	}
	require.NoError(b, mobile.Stop())
	var first, loaded time.Duration
	b.ResetTimer()
	for range b.N {
		began := time.Now()
		require.NoError(b, mobile.StartWithConfig(cfg, nil))
		list := mcall(b, "SpaceList", &pb.Rpc_Space_List_Request{}, &pb.Rpc_Space_List_Response{})
		first += time.Since(began)
		for _, id := range ids {
			res := mcall(b, "ObjectQuery", &pb.Rpc_Object_Query_Request{SpaceId: id, Limit: 50}, &pb.Rpc_Object_Query_Response{})
			require.Len(b, res.Objects, 1, "space %s answers its object", id)
		}
		loaded += time.Since(began)
		b.StopTimer()
		require.Len(b, list.Spaces, 5, "the first answer lists the 5 spaces: %v", list.Spaces)
		modes := map[pb.Model_SpaceMode]int{}
		for _, s := range mcall(b, "SpaceList", &pb.Rpc_Space_List_Request{}, &pb.Rpc_Space_List_Response{}).Spaces {
			modes[s.Mode]++
		}
		require.Equal(b, 5, modes[pb.Model_SPACE_MODE_LOADED], "the queries loaded every space: %v", modes)
		require.NoError(b, mobile.Stop())
		b.StartTimer()
	}
	b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "ms-to-first-answer")
	b.ReportMetric(float64(loaded.Microseconds())/1000/float64(b.N), "ms-to-5-spaces-loaded")
}

// heapInUse is the Go heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkMobileHeapPerSpace: the heap a loaded space adds at steady state
// after 10,000 writes to it (100 objects × 100 sets, 8 writers sharing the
// group commit), synced with the node and read while its compactions
// settle: (heap with the spaces − heap with the account alone) / spaces.
// One iteration writes every space once (run it with -benchtime 1x for the
// 10k figure).
func BenchmarkMobileHeapPerSpace(b *testing.B) {
	const spaces, objects, sets, writers = 2, 100, 100, 8
	node := startNode(b, b.TempDir(), "")
	require.NoError(b, mobile.StartWithConfig(mobileConfig(b, b.TempDir(), node), nil))
	b.Cleanup(func() { _ = mobile.Stop() })
	mcall(b, "AccountCreate", &pb.Rpc_Account_Create_Request{Name: "Phone"}, &pb.Rpc_Account_Create_Response{})
	base := heapInUse()
	ids := make([]string, spaces)
	for i := range ids {
		ids[i] = mcall(b, "SpaceCreate", &pb.Rpc_Space_Create_Request{Name: fmt.Sprint("space ", i)}, &pb.Rpc_Space_Create_Response{}).SpaceId
	}
	b.ResetTimer()
	for range b.N {
		for _, sp := range ids {
			objs := make([]string, objects)
			for i := range objs {
				objs[i] = mcall(b, "ObjectCreate", &pb.Rpc_Object_Create_Request{SpaceId: sp, Type: "note"}, &pb.Rpc_Object_Create_Response{}).ObjectId
			}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < objects*sets; i += writers {
						v := &pb.Model_Value{Kind: &pb.Model_Value_String_{String_: fmt.Sprintf("title %d", i)}}
						mcall(b, "ObjectSet", &pb.Rpc_Object_Set_Request{SpaceId: sp, ObjectId: objs[i%objects], Details: map[string]*pb.Model_Value{"title": v}}, &pb.Rpc_Object_Set_Response{})
					}
				}()
			}
			wg.Wait()
		}
	}
	b.StopTimer()
	for _, sp := range ids {
		deadline := time.Now().Add(5 * time.Minute)
		for mcall(b, "SpaceStatus", &pb.Rpc_Space_Status_Request{SpaceId: sp}, &pb.Rpc_Space_Status_Response{}).Status.GetStatus() != "synced" {
			require.True(b, time.Now().Before(deadline), "space %s never synced", sp)
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Steady state in use: the app keeps reading each space (a query every
	// 5 s keeps its databases open; they sleep after 15 s without use)
	// while badger's compactions of the writes settle, for 45 s.
	for range 9 {
		for _, sp := range ids {
			mcall(b, "ObjectQuery", &pb.Rpc_Object_Query_Request{SpaceId: sp, Limit: 50}, &pb.Rpc_Object_Query_Response{})
		}
		time.Sleep(5 * time.Second)
	}
	after := heapInUse()
	perSpace := float64(after-min(base, after)) / spaces / (1 << 20)
	b.ReportMetric(perSpace, "heap-MiB/loaded-space")
	b.ReportMetric(perSpace/32, "heap/budget")
	b.ReportMetric(float64(after)/(1<<20), "heap-MiB-total")
	require.NoError(b, mobile.MemoryPressure())
	b.ReportMetric(float64(heapInUse())/(1<<20), "heap-MiB-after-trim")
}

// BenchmarkMobileLibrarySize reports the size of the gobind JNI library, as
// the Java tests build it for this host (linux/amd64, c-shared), and
// stripped as gomobile ships it (-s -w). An Android arm64 build needs the
// NDK, which this machine does not have: expect it within a few per cent.
func BenchmarkMobileLibrarySize(b *testing.B) {
	jb := javaBinding(b)
	st, err := os.Stat(jb.lib)
	require.NoError(b, err)
	stripped := filepath.Join(b.TempDir(), "libgojni.so")
	out, err := exec.Command("strip", "--strip-unneeded", "-o", stripped, jb.lib).CombinedOutput()
	require.NoError(b, err, "%s", out)
	sst, err := os.Stat(stripped)
	require.NoError(b, err)
	for range b.N {
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "lib-MiB")
	b.ReportMetric(float64(sst.Size())/(1<<20), "lib-stripped-MiB")
}
