package clientlibrary

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestDescribeDropsInternalPrefixes(t *testing.T) {
	_, idErr := crypto.ParseSpaceID("x")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errkind.E("space", errkind.Invalid, idErr), `id "x" has length 1, want 52`},
		{errkind.E("space.kick", errkind.Permission, fmt.Errorf("%w: bob cannot remove owner", acl.ErrPermission)), "bob cannot remove owner"},
		{errkind.E("space.join", errkind.Permission, status.Error(codes.NotFound, "no open invite i in space s")), "the node says: no open invite i in space s"},
		{errkind.Errorf("space.invite", errkind.Permission, "the node refused: %v", fmt.Errorf("%w: invite key: %w", acl.ErrInvalid, errors.New("bad"))), "the node refused: invite key: bad"},
		{errors.New("spaceindex: space not loaded"), "space not loaded"},
		{errkind.Errorf("files", errkind.Invalid, "%s is not a regular file", "/p"), "/p is not a regular file"},
		{errors.New("no space abc: plain words stay"), "no space abc: plain words stay"},
	} {
		assert.Equal(t, tc.want, describe(tc.err), "%v", tc.err)
	}
}
