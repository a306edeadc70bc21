package spaceindex

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if queryReg != nil {
		_ = queryReg.CloseAll()
	}
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}
