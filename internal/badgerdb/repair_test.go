package badgerdb

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

// TestTornValueLogStillOpens: a crash while badger creates its next value
// log leaves a zero-byte file (seen after a SIGKILL in core's
// TestFilesSurviveSIGKILL); badger alone then refuses to open the database
// once, Open repairs it and every committed value is still there.
func TestTornValueLogStillOpens(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, true, nil)
	require.NoError(t, err)
	big := make([]byte, 4<<10) // above the value threshold: it lives in the value log
	big[0] = 7
	require.NoError(t, db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), big) }))
	require.NoError(t, db.Close())

	logs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	torn := filepath.Join(dir, "000099.vlog")
	require.NoError(t, os.WriteFile(torn, nil, 0o600))

	// badger.Open alone fails here ("Open existing file ... Create a new
	// file"), bootstrapping the file on its way out and leaking goroutines,
	// so a retry would open it: the first open must already succeed.

	db, err = Open(dir, true, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte("k"))
		if err != nil {
			return err
		}
		v, err := it.ValueCopy(nil)
		require.Equal(t, big, v)
		return err
	}))
	require.NoError(t, db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k2"), big) }), "and it takes writes")
	_, err = os.Stat(torn)
	require.True(t, os.IsNotExist(err), "the empty log is gone")
}
