package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/internal/fsutil"
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

// writeNewFile writes data to path with mode 0600 durably, its folder created first, so a
// crash leaves no torn key.
func writeNewFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, 0o600)
}
