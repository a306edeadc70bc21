package core

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// An account whose select fails after its services started (the data dir's
// "selected" file cannot be written) stops them again: nothing keeps
// running (the package's goleak check) and the data dir is usable after.
func TestFailedSelectStopsTheAccountsServices(t *testing.T) {
	dir := t.TempDir()
	app, err := Open(Config{DataDir: dir, Logger: quietLog})
	require.NoError(t, err)
	first, _, err := app.Accounts().Create("first")
	require.NoError(t, err)
	second, _, err := app.Accounts().Create("second")
	require.NoError(t, err)

	sel := filepath.Join(dir, "selected")
	require.NoError(t, os.Remove(sel))
	require.NoError(t, os.Mkdir(sel, 0o700)) // a rename cannot replace a directory
	_, err = app.Accounts().Select(string(first.ID))
	require.Error(t, err)
	require.NoError(t, os.Remove(sel))

	_, err = app.Accounts().Select(string(second.ID))
	require.NoError(t, err, "the data dir works after")
	require.NoError(t, app.Close())
}
