package spaceindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// checkTables guards badger.Open against table files (.sst) whose footer
// points outside the file, as a truncated or garbled file's does: badger
// reads the footer in a goroutine of its own and panics on it, which would
// take the whole process down instead of reporting ErrCorrupt. It checks
// only the footer's bounds (badger checks the index checksum itself). A
// missing directory is fine (a new generation).
func checkTables(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".sst") {
			continue
		}
		if err := checkTableFile(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func checkTableFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkTableFooter(f, st.Size()); err != nil {
		return fmt.Errorf("table %s: %w", filepath.Base(path), err)
	}
	return nil
}

// checkTableFooter checks a badger table's footer, read from its end:
// ... index | index length (4) | checksum | checksum length (4).
func checkTableFooter(r io.ReaderAt, size int64) error {
	var b [4]byte
	pos := size - 4
	if pos < 0 {
		return fmt.Errorf("%w: table of %d bytes", ErrCorrupt, size)
	}
	if _, err := r.ReadAt(b[:], pos); err != nil {
		return fmt.Errorf("%w: table footer: %w", ErrCorrupt, err)
	}
	pos -= int64(binary.BigEndian.Uint32(b[:])) + 4 // checksum, then the index length
	if pos < 0 {
		return fmt.Errorf("%w: table checksum length out of bounds", ErrCorrupt)
	}
	if _, err := r.ReadAt(b[:], pos); err != nil {
		return fmt.Errorf("%w: table footer: %w", ErrCorrupt, err)
	}
	if pos-int64(binary.BigEndian.Uint32(b[:])) < 0 {
		return fmt.Errorf("%w: table index length out of bounds", ErrCorrupt)
	}
	return nil
}
