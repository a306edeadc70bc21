//go:build !unix

package badgerdb

import "errors"

// statFree has no probe here: an error, which counts as room.
func statFree(string) (uint64, error) { return 0, errors.New("no free-space probe on this system") }
