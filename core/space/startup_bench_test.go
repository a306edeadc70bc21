package space

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// BenchmarkStartup1000Spaces: an account with 1,000 offloaded and 5 active
// spaces opens: resume offloads, the account space, LoadActive. Reports the
// time until ready and the databases opened (each loaded space has a store
// and an index; the account space is one more loaded space).
func BenchmarkStartup1000Spaces(b *testing.B) {
	e := newEnv(b)
	c := context.Background()
	var active []crypto.SpaceID
	for i := range 5 {
		id, err := e.svc.Create(c, fmt.Sprintf("active %d", i))
		require.NoError(b, err)
		active = append(active, id)
	}
	for i := range 1000 {
		id := crypto.SpaceID(crypto.Sum([]byte(fmt.Sprintf("offloaded %d", i))))
		require.NoError(b, putInfo(e.db, Info{ID: id, Name: "old", Incarnation: "igone", AccountStatus: AccountRemoved, LocalStatus: LocalMissing}))
	}
	var opened int
	var ready time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		e.close()
		b.StartTimer()
		began := time.Now()
		e.open()
		require.NoError(b, e.svc.ResumeOffloads(c))
		_, err := e.svc.EnsureAccountSpace(c)
		require.NoError(b, err)
		require.NoError(b, e.svc.LoadActive(c))
		ready = time.Since(began)
		opened = 2 * len(e.svc.Registry().Loaded()) // store + index per loaded space
	}
	b.StopTimer()
	if got := len(e.svc.Loaded()); got != len(active)+1 {
		b.Fatalf("%d spaces loaded, want the %d active ones and the account space", got, len(active))
	}
	b.ReportMetric(float64(ready.Microseconds())/1000, "ready-ms")
	b.ReportMetric(float64(opened), "databases-opened")
}
