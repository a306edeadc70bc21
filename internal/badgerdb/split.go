package badgerdb

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// Entry is one key and value UpdateSplit sets.
type Entry struct{ Key, Value []byte }

// UpdateSplit sets entries and runs fn, in one transaction when that fits. Badger caps a
// transaction (at 15 % of a memtable: about 150 KiB or 1,600 keys with the phone options),
// and a batch from the network can be larger (thousands of sibling changes, issue 16.5):
// then entries are set in as many transactions as they need, each committed before the
// next, and fn runs alone in the last one. Only fn's writes are atomic then, so entries
// must be safe to commit ahead of it: content-addressed values that nothing reads as
// meaning something until fn's writes refer to them (a crash between leaves them stored
// and harmless). fn may run twice (once in the transaction that did not fit); it must not
// have effects outside the transaction.
func UpdateSplit(db *badger.DB, entries []Entry, fn func(*badger.Txn) error) error {
	err := db.Update(func(txn *badger.Txn) error {
		for _, e := range entries {
			if err := txn.Set(e.Key, e.Value); err != nil {
				return err
			}
		}
		return fn(txn)
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	txn := db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, e := range entries {
		err := txn.Set(e.Key, e.Value)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = db.NewTransaction(true)
			err = txn.Set(e.Key, e.Value)
		}
		if err != nil {
			return err
		}
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	return db.Update(fn)
}

// UpdateSplit is UpdateSplit on the (re)opened database.
func (d *Dormant) UpdateSplit(entries []Entry, fn func(*badger.Txn) error) error {
	if err := d.writable(); err != nil {
		return err
	}
	db, release, err := d.Acquire()
	if err != nil {
		return err
	}
	defer release()
	return d.noSpace(UpdateSplit(db, entries, fn))
}
