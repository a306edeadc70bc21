// Package datadir owns the layout of a Hearth data directory (DESIGN §6) and
// the lock that keeps two processes from using one data dir at once.
//
// It never opens databases and never reads key material.
package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/internal/fsutil"
)

// Layout names the paths under one data dir.
type Layout struct{ Root string }

// Accounts is the folder holding one folder per account.
func (l Layout) Accounts() string { return filepath.Join(l.Root, "accounts") }

// Account is one account's folder.
func (l Layout) Account(id string) string { return filepath.Join(l.Accounts(), id) }

// Keys is the account's key file (0600).
func (l Layout) Keys(id string) string { return filepath.Join(l.Account(id), "keys") }

// AccountDB is the account's database folder.
func (l Layout) AccountDB(id string) string { return filepath.Join(l.Account(id), "account") }

// Blobs is the account's content-addressed chunk folder.
func (l Layout) Blobs(id string) string { return filepath.Join(l.Account(id), "blobs") }

// Spaces is the folder holding one folder per space of the account.
func (l Layout) Spaces(id string) string { return filepath.Join(l.Account(id), "spaces") }

// Selected is the file naming the account to select on start.
func (l Layout) Selected() string { return filepath.Join(l.Root, "selected") }

// ServeFile is the daemon's address and token file (0600).
func (l Layout) ServeFile() string { return filepath.Join(l.Root, "serve.json") }

// Lock is an exclusive lock on a data dir, held for a process's lifetime.
type Lock struct{ f *os.File }

// Acquire creates the data dir if needed and locks it. Another process that
// holds the lock makes it fail at once with kind Locked, never wait.
func Acquire(root string) (*Lock, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, errkind.E("datadir.lock", errkind.Other, err)
	}
	f, err := os.OpenFile(filepath.Join(root, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, errkind.E("datadir.lock", errkind.Other, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errkind.E("datadir.lock", errkind.Locked,
				fmt.Errorf("data dir locked: %s is in use by another hearth process", root))
		}
		return nil, errkind.E("datadir.lock", errkind.Other, err)
	}
	return &Lock{f: f}, nil
}

// Release unlocks the data dir. It is idempotent.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	return f.Close() // closing the descriptor releases the flock
}

// WriteFileAtomic writes data to path durably (internal/fsutil).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return fsutil.WriteFileAtomic(path, data, perm)
}
