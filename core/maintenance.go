package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hearth-sync/hearth/internal/badgerdb"

	"github.com/hearth-sync/hearth/core/lease"
	"github.com/hearth-sync/hearth/core/maintenance"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// newMaintenance makes an account's maintenance runner. The lease holder is
// fresh per process: a restarted process waits for a dead one's lease to
// expire.
func newMaintenance(db badgerdb.KV, now func() time.Time) *maintenance.Runner {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return maintenance.New(lease.New(lease.Config{DB: db, Holder: "agent-" + hex.EncodeToString(b), Now: now}))
}

func (a *App) maintenance() (*accountServices, error) {
	svc, err := a.services()
	if err != nil {
		return nil, err
	}
	if svc.maint == nil {
		return nil, errkind.Errorf("maintenance", errkind.Precondition, "maintenance is not available")
	}
	return svc, nil
}

func parseSpace(op, id string) (crypto.SpaceID, error) {
	if _, err := crypto.ParseSpaceID(id); err != nil {
		return "", errkind.E(op, errkind.Invalid, err)
	}
	return crypto.SpaceID(id), nil
}

// RebuildIndex rebuilds a space's index (DESIGN §10) under the account's
// maintenance lease, reporting progress to progressID's watchers.
func (a *App) RebuildIndex(ctx context.Context, spaceID, source, progressID string) (space.RebuildStats, error) {
	id, err := parseSpace("index.rebuild", spaceID)
	if err != nil {
		return space.RebuildStats{}, err
	}
	src, err := space.ParseRebuildSource(source)
	if err != nil {
		return space.RebuildStats{}, err
	}
	svc, err := a.maintenance()
	if err != nil {
		return space.RebuildStats{}, err
	}
	p := a.NewProgress(progressID, "index.rebuild", "objects")
	var st space.RebuildStats
	err = svc.maint.Run(ctx, fmt.Sprintf("rebuild of space %s", id), func(ctx context.Context) error {
		st, err = svc.spaces.RebuildIndex(ctx, id, src, p.Set)
		return err
	})
	p.Finish(st.Scanned, st.Scanned)
	return st, err
}

// VerifyIndex compares a space's index with its store, repairing the
// differences when asked, under the account's maintenance lease.
func (a *App) VerifyIndex(ctx context.Context, spaceID string, repair bool, progressID string) (space.VerifyReport, error) {
	id, err := parseSpace("index.verify", spaceID)
	if err != nil {
		return space.VerifyReport{}, err
	}
	svc, err := a.maintenance()
	if err != nil {
		return space.VerifyReport{}, err
	}
	p := a.NewProgress(progressID, "index.verify", "objects")
	var rep space.VerifyReport
	err = svc.maint.Run(ctx, fmt.Sprintf("verify of space %s", id), func(ctx context.Context) error {
		rep, err = svc.spaces.VerifyIndex(ctx, id, repair, p.Set)
		return err
	})
	p.Finish(rep.Objects, rep.Objects)
	return rep, err
}
