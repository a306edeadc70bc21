package files

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// RepairSpaces is what a repair needs of the account's spaces.
type RepairSpaces interface {
	// Known lists every space the account knows, whatever its mode.
	Known() ([]crypto.SpaceID, error)
	// RepairFileMarkers runs fn with the fileIds a space references while
	// none of its references can change (nil for a space with no local data).
	RepairFileMarkers(ctx context.Context, id crypto.SpaceID, fn func(fileIDs []string) error) error
}

// RepairResult counts what a repair found and changed.
type RepairResult struct {
	Spaces  int // spaces recounted
	Kept    int // spaces whose store could not be read: their markers were kept
	Markers int // markers after the repair
	Added   int // markers that were missing
	Removed int // markers nothing referenced any more
}

// Repair recounts the references of every known space and rewrites the
// markers to match. A space whose references cannot be read keeps its
// markers (when in doubt, keep); markers of spaces the account no longer
// knows are dropped. Run it where no other repair runs (the maintenance
// lease); adds and deletes may go on meanwhile.
func (s *Service) Repair(ctx context.Context, spaces RepairSpaces) (RepairResult, error) {
	var res RepairResult
	known, err := spaces.Known()
	if err != nil {
		return res, err
	}
	isKnown := map[crypto.SpaceID]bool{}
	var errs []error
	for _, id := range known {
		isKnown[id] = true
		if err := ctx.Err(); err != nil {
			return res, err
		}
		err := spaces.RepairFileMarkers(ctx, id, func(fileIDs []string) error {
			before, err := s.markers.OfSpace(id)
			if err != nil {
				return err
			}
			had := map[string]bool{}
			for _, f := range before {
				had[f] = true
			}
			want := map[string]bool{}
			for _, f := range fileIDs {
				if !want[f] && !had[f] {
					res.Added++
				}
				want[f] = true
			}
			for _, f := range before {
				if !want[f] {
					res.Removed++
				}
			}
			res.Markers += len(want)
			return s.markers.Rewrite(id, fileIDs)
		})
		if err != nil {
			res.Kept++
			mine, _ := s.markers.OfSpace(id)
			res.Markers += len(mine)
			errs = append(errs, fmt.Errorf("space %s (markers kept): %w", id, err))
			continue
		}
		res.Spaces++
	}
	marking, err := s.markers.Spaces()
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	for id := range marking {
		if isKnown[id] {
			continue
		}
		gone, err := s.markers.OfSpace(id)
		if err == nil {
			err = s.markers.Release(id)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res.Removed += len(gone)
	}
	return res, errors.Join(errs...)
}
