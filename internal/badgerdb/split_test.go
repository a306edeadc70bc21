package badgerdb

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
)

// TestUpdateSplit: entries that fit go in fn's transaction; entries far over one
// transaction's cap are all stored, fn's writes too; fn's failure after a split leaves the
// entries stored (they were safe to commit ahead) and none of fn's writes.
func TestUpdateSplit(t *testing.T) {
	db, err := Open(t.TempDir(), false, nil)
	require.NoError(t, err)
	defer db.Close()
	entries := func(prefix string, n int) []Entry {
		out := make([]Entry, n)
		for i := range out {
			out[i] = Entry{Key: []byte(fmt.Sprintf("%s/%05d", prefix, i)), Value: make([]byte, 200)}
		}
		return out
	}
	count := func(prefix string) (n int) {
		require.NoError(t, db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		}))
		return n
	}
	mark := func(k string) func(*badger.Txn) error {
		return func(txn *badger.Txn) error { return txn.Set([]byte(k), nil) }
	}
	require.NoError(t, UpdateSplit(db, entries("small", 10), mark("m/small")))
	require.Equal(t, 10, count("small/"))
	require.Equal(t, 1, count("m/small"))

	big := entries("big", 5000)
	require.ErrorIs(t, db.Update(func(txn *badger.Txn) error {
		for _, e := range big {
			if err := txn.Set(e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	}), badger.ErrTxnTooBig, "the batch does not fit one transaction")
	require.NoError(t, UpdateSplit(db, big, mark("m/big")))
	require.Equal(t, 5000, count("big/"))
	require.Equal(t, 1, count("m/big"))

	boom := errors.New("boom")
	err = UpdateSplit(db, entries("failed", 5000), func(txn *badger.Txn) error {
		if err := txn.Set([]byte("m/failed"), nil); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, 5000, count("failed/"))
	require.Equal(t, 0, count("m/failed"), "fn is atomic")
}
