package space

import (
	"context"

	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// The account's profile lives in the account space as one object whose root
// is derived from the account key (the same object on every device), so a
// device recovered from the mnemonic learns the account's display name.

// ProfileType is the object type of the account's profile.
const ProfileType = "hearth.profile"

const profileName = "name"

// PutProfile writes the account's display name into the account space.
func (s *Service) PutProfile(ctx context.Context, name string) error {
	as, err := s.EnsureAccountSpace(ctx)
	if err != nil {
		return err
	}
	return as.upsertDeterministic(ctx, ProfileType, detRand(s.cfg.Account, "hearth/profile/v1"),
		Details{profileName: objtree.String(name)})
}

// Profile reads the account's display name from the account space; ok is
// false while none has arrived.
func (s *Service) Profile(ctx context.Context) (name string, ok bool, err error) {
	as, err := s.EnsureAccountSpace(ctx)
	if err != nil {
		return "", false, err
	}
	res, err := as.Query(ctx, spaceindex.Query{Filter: spaceindex.Eq(spaceindex.KeyType, spaceindex.String(ProfileType)), Limit: 1})
	if err != nil || len(res.Records) == 0 {
		return "", false, err
	}
	name = res.Records[0].Details[profileName].AsString()
	return name, name != "", nil
}
