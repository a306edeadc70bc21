package badgerdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DropTornValueLogs removes the empty value-log files a crash can leave in
// a database directory, so that the database opens again. Badger creates a
// value log (rotation, or a new database) by creating the file and then
// sizing and bootstrapping it; a process killed between the two leaves a
// file of zero bytes, and badger's open then fails on it ("Open existing
// file ... Create a new file") instead of bootstrapping it, so the database
// would never open again. A zero-byte value log holds no entry (not even
// its header), so no value pointer can refer to it: removing it loses
// nothing, and badger makes the next one when it needs it. A missing
// directory is not an error (a new database).
func DropTornValueLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("repair database %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".vlog") {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("repair database %s: drop the empty value log %s: %w", dir, e.Name(), err)
		}
	}
	return nil
}
