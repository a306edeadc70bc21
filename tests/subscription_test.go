package tests

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/subscription"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// withRapidChecks runs fn with rapid's number of cases set to n: each case
// here creates a space on two devices through a node, so the default 100
// would take minutes.
func withRapidChecks(t *testing.T, n int, fn func()) {
	f := flag.Lookup("rapid.checks")
	require.NotNil(t, f)
	old := f.Value.String()
	require.NoError(t, flag.Set("rapid.checks", fmt.Sprint(n)))
	defer flag.Set("rapid.checks", old)
	fn()
}

// TestPropertySubscriptionLocalAndRemote: after any sequence of creates,
// updates, unsets and deletes made on device B (local) and on device A
// (remote for B, through a real node), B's subscription view equals a fresh
// query on B with the same parameters, and B agrees with A.
func TestPropertySubscriptionLocalAndRemote(t *testing.T) {
	tn := newTestNode(t)
	a := newDevice(t, tn.n.Addr())
	b := newDevice(t, tn.n.Addr())
	_, mnemonic, err := a.app.Accounts().Create("prop")
	require.NoError(t, err)
	_, err = b.app.Accounts().Recover(mnemonic, "")
	require.NoError(t, err)
	ctx := context.Background()
	cases := 0

	withRapidChecks(t, 8, func() {
		rapid.Check(t, func(rt *rapid.T) {
			cases++
			id, err := a.spaces(t).Create(ctx, fmt.Sprint("prop ", cases))
			require.NoError(rt, err)
			spA, err := a.spaces(t).Get(ctx, id)
			require.NoError(rt, err)
			spB := b.waitSpace(t, id)

			q := spaceindex.Query{Limit: rapid.IntRange(0, 5).Draw(rt, "limit"), Offset: rapid.IntRange(0, 2).Draw(rt, "offset")}
			switch rapid.IntRange(0, 2).Draw(rt, "filter") {
			case 1:
				q.Filter = spaceindex.Gte("n", spaceindex.Number(float64(rapid.IntRange(0, 5).Draw(rt, "gte"))))
			case 2:
				q.Filter = spaceindex.Eq(spaceindex.KeyType, spaceindex.String("task"))
			}
			if rapid.Bool().Draw(rt, "sort") {
				q.Sorts = []spaceindex.Sort{{Key: "n", Desc: rapid.Bool().Draw(rt, "desc")}}
			}
			if rapid.Bool().Draw(rt, "keys") {
				q.Keys = []string{"n", "name"}
			}

			var mu sync.Mutex
			var view *subscription.View
			var pending []func() error
			var applyErr error
			snap, err := b.app.Subscribe(ctx, subscription.Request{Spaces: []string{string(id)}, Query: q},
				func(_ string, seq uint64, msgs []subscription.Message) {
					mu.Lock()
					defer mu.Unlock()
					msgs = slices.Clone(msgs)
					apply := func() error { return view.Apply(seq, msgs) }
					if view == nil {
						pending = append(pending, apply)
					} else if err := apply(); err != nil && applyErr == nil {
						applyErr = err
					}
				})
			require.NoError(rt, err)
			defer b.app.Unsubscribe(snap.ID)
			mu.Lock()
			view = subscription.NewView(snap)
			for _, fn := range pending {
				require.NoError(rt, fn())
			}
			mu.Unlock()

			var objects []crypto.ObjectID
			for i := range rapid.IntRange(1, 25).Draw(rt, "steps") {
				sp := spB
				if rapid.Bool().Draw(rt, fmt.Sprint("remote", i)) {
					sp = spA
				}
				n := objtree.Number(float64(rapid.IntRange(0, 9).Draw(rt, "n")))
				switch op := rapid.IntRange(0, 5).Draw(rt, "op"); {
				case op <= 1 || len(objects) == 0:
					typ := rapid.SampledFrom([]string{"task", "note"}).Draw(rt, "type")
					obj, err := sp.CreateObject(ctx, typ, space.Details{"n": n, "name": objtree.String(fmt.Sprint("o", i))})
					require.NoError(rt, err)
					objects = append(objects, obj)
				case op <= 3:
					// The other device may not have the object yet: its
					// refusal is fine, anything else is not.
					_ = sp.UpdateObject(ctx, rapid.SampledFrom(objects).Draw(rt, "obj"), space.Details{"n": n}, nil)
				case op == 4:
					_ = sp.UpdateObject(ctx, rapid.SampledFrom(objects).Draw(rt, "obj"), nil, []string{"n"})
				default:
					_ = sp.DeleteObject(ctx, rapid.SampledFrom(objects).Draw(rt, "obj"))
				}
			}

			// At quiescence: B agrees with A, and B's view is B's fresh query.
			var why string
			deadline := time.Now().Add(60 * time.Second)
			for {
				why = mismatch(ctx, q, spA, spB, &mu, view, &applyErr)
				if why == "" || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			require.Empty(rt, why)
		})
	})
	require.GreaterOrEqual(t, cases, 8, "rapid ran the cases asked for")
}

// mismatch says how the view or the devices differ ("" when they agree).
func mismatch(ctx context.Context, q spaceindex.Query, spA, spB *space.Space, mu *sync.Mutex, view *subscription.View, applyErr *error) string {
	all := q
	all.Limit, all.Offset, all.Keys = 0, 0, []string{"n", "name", spaceindex.KeyType}
	ra, errA := spA.Query(ctx, all)
	rb, errB := spB.Query(ctx, all)
	if errA != nil || errB != nil {
		return fmt.Sprint("query: ", errA, errB)
	}
	if fmt.Sprint(idsDetails(ra)) != fmt.Sprint(idsDetails(rb)) {
		return "devices differ"
	}
	exact := q
	exact.ExactTotal = true // a subscription's total counts every match
	want, err := spB.Query(ctx, exact)
	if err != nil {
		return err.Error()
	}
	mu.Lock()
	defer mu.Unlock()
	if *applyErr != nil {
		return "applying events: " + (*applyErr).Error()
	}
	var ids []string
	for _, r := range want.Records {
		ids = append(ids, r.ID)
	}
	if fmt.Sprint(ids) != fmt.Sprint(view.Order) {
		return fmt.Sprintf("window %v, fresh query %v", view.Order, ids)
	}
	if want.Total != view.Total {
		return fmt.Sprintf("total %d, fresh query %d", view.Total, want.Total)
	}
	for _, r := range want.Records {
		if w, g := fmt.Sprint(subscription.Project(q.Keys, &r)), fmt.Sprint(view.Details[r.ID]); w != g {
			return fmt.Sprintf("details of %s: %s, fresh query %s", r.ID, g, w)
		}
	}
	return ""
}

func idsDetails(r spaceindex.Result) []string {
	var out []string
	for _, rec := range r.Records {
		out = append(out, rec.ID+fmt.Sprint(rec.Details))
	}
	return out
}
