package datadir

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/errkind"
)

func TestLockIsExclusiveAndReleasable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	l, err := Acquire(dir)
	require.NoError(t, err, "Acquire creates the data dir")
	_, err = Acquire(dir)
	require.Error(t, err)
	assert.True(t, errkind.Is(err, errkind.Locked))
	assert.Contains(t, err.Error(), "data dir locked")
	require.NoError(t, l.Release())
	require.NoError(t, l.Release(), "Release is idempotent")
	l2, err := Acquire(dir)
	require.NoError(t, err, "free again after release")
	require.NoError(t, l2.Release())
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, WriteFileAtomic(path, []byte("one"), 0o600))
	require.NoError(t, WriteFileAtomic(path, []byte("two"), 0o600))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")
}
