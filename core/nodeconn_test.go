package core

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/syncclient"
)

// TestFailover: a cluster's addresses are tried in turn, starting with the last one that
// worked; a node showing another key stops the round.
func TestFailover(t *testing.T) {
	errDown := errors.New("connection refused")
	for _, tc := range []struct {
		name  string
		list  string
		down  map[string]error
		tried []string
		got   string
		err   error
	}{
		{"one address", "a:1", nil, []string{"a:1"}, "a:1", nil},
		{"first down", "a:1, b:2", map[string]error{"a:1": errDown}, []string{"a:1", "b:2"}, "b:2", nil},
		{"all down", "a:1,b:2", map[string]error{"a:1": errDown, "b:2": errDown}, []string{"a:1", "b:2"}, "", errDown},
		{"key mismatch stops", "a:1,b:2", map[string]error{"a:1": syncclient.ErrNodeKeyMismatch}, []string{"a:1"}, "", syncclient.ErrNodeKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFailover(tc.list)
			var tried []string
			var got string
			_, err := f.dial(context.Background(), func(_ context.Context, addr string) (*syncclient.Client, error) {
				tried = append(tried, addr)
				if err := tc.down[addr]; err != nil {
					return nil, err
				}
				got = addr
				return nil, nil
			})
			require.Equal(t, tc.tried, tried)
			require.Equal(t, tc.got, got)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
		})
	}

	// The address that worked is tried first next time.
	f := newFailover("a:1,b:2,c:3")
	var tried []string
	dial := func(down string) {
		tried = nil
		_, _ = f.dial(context.Background(), func(_ context.Context, addr string) (*syncclient.Client, error) {
			tried = append(tried, addr)
			if addr == down {
				return nil, fmt.Errorf("%s is down", addr)
			}
			return nil, nil
		})
	}
	dial("a:1")
	require.Equal(t, []string{"a:1", "b:2"}, tried)
	dial("")
	require.Equal(t, []string{"b:2"}, tried, "sticks to the node that worked")
	dial("b:2")
	require.Equal(t, []string{"b:2", "c:3"}, tried)
}
