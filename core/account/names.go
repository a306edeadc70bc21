package account

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// nameFileName is accounts/<id>/name: the account's display name, kept
// beside the database so that List names every account without opening
// their databases (badger takes a lock and replays its log on open).
const nameFileName = "name"

func (s *Service) nameFile(id string) string {
	return filepath.Join(s.layout.Account(id), nameFileName)
}

// Entry is an account stored on the data dir.
type Entry struct {
	ID       crypto.Identity
	Name     string // "" when not known (an account last used before names were kept here)
	Selected bool
}

// Entries lists the accounts stored on this data dir, sorted by id, with
// their names and which one is selected.
func (s *Service) Entries() ([]Entry, error) {
	ids, err := s.List()
	if err != nil {
		return nil, err
	}
	cur, _ := s.Current()
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		e := Entry{ID: id}
		if cur != nil && cur.Info().ID == id {
			e.Selected, e.Name = true, cur.Info().Name
		} else if b, err := os.ReadFile(s.nameFile(string(id))); err == nil {
			e.Name = strings.TrimSpace(string(b))
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, errkind.E("account.list", errkind.Other, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// SetName changes the selected account's display name.
func (s *Service) SetName(name string) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	acc, err := s.Current()
	if err != nil {
		return err
	}
	if err := acc.setName(name); err != nil {
		return errkind.E("account.name", errkind.Other, err)
	}
	return nil
}
