package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// LoadOrCreateKey reads the node key (a raw 32-byte ed25519 seed, mode 0600) at path,
// creating it on first use. The key is never logged. A key file readable by others is
// refused.
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		fi, err := os.Stat(path)
		if err != nil {
			return crypto.PrivKey{}, errkind.E("node.key", errkind.Other, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return crypto.PrivKey{}, errkind.Errorf("node.key", errkind.Permission, "node key %s has mode %v: it must be 0600", path, fi.Mode().Perm())
		}
		k, err := crypto.UnmarshalPrivKey(b)
		if err != nil {
			return crypto.PrivKey{}, errkind.Errorf("node.key", errkind.Corrupt, "node key %s: %v", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return crypto.PrivKey{}, errkind.E("node.key", errkind.Other, err)
	}
	k, err := crypto.GenerateKey()
	if err != nil {
		return crypto.PrivKey{}, errkind.E("node.key", errkind.Other, err)
	}
	if err := writeNewFile(path, k.Marshal()); err != nil {
		return crypto.PrivKey{}, errkind.E("node.key", errkind.Other, fmt.Errorf("create node key: %w", err))
	}
	return k, nil
}

// writeNewFile writes data to path with mode 0600 through a synced temporary file and a
// rename, then syncs the folder, so a crash leaves no torn key.
func writeNewFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
