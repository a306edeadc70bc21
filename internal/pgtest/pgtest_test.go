package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// TestCluster: a cluster starts, hands out separate databases, and is gone after stop.
func TestCluster(t *testing.T) {
	c, err := start(Options{})
	if err != nil {
		unavailable(t, err)
	}
	a, b := c.NewDB(t), c.NewDB(t)
	require.NotEqual(t, a, b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE x (v int)`)
	require.NoError(t, err)
	conn.Close(ctx)
	conn, err = pgx.Connect(ctx, b)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE x (v int)`)
	require.NoError(t, err, "databases are separate")
	conn.Close(ctx)
	c.stop()
	_, err = pgx.Connect(ctx, a)
	require.Error(t, err, "the server is gone")
}
