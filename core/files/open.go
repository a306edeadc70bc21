package files

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// openRegular opens path for reading only if it is a regular file. A FIFO
// or a device must never be opened the ordinary way: opening a FIFO blocks
// until a writer comes (a handler that never returns, and a daemon that
// cannot shut down), and reading a device never ends. So: stat first,
// refuse anything else, open without blocking, and check that what was
// opened is still the regular file that was stat'ed.
func openRegular(op, path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, errkind.Errorf(op, errkind.NotFound, "no file %s", path)
		}
		return nil, nil, errkind.E(op, errkind.Invalid, err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, errkind.Errorf(op, errkind.Invalid, "%s is not a regular file (%s): only regular files can be added", path, kindOf(st.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, errkind.E(op, errkind.Invalid, err)
	}
	again, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, errkind.E(op, errkind.Other, err)
	}
	if !again.Mode().IsRegular() || !os.SameFile(st, again) {
		f.Close()
		return nil, nil, errkind.Errorf(op, errkind.Invalid, "%s changed while it was opened: only regular files can be added", path)
	}
	return f, again, nil
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}
