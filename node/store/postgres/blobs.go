package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Blobs in a table: a chunk's bytes are one bytea row (up to node.MaxBlobSize, a few MiB),
// and the space's usage counter is a column of its spaces row, locked (FOR UPDATE) and
// updated in the chunk's transaction. The lock also orders puts against a status change:
// a put that read the status OK commits before the deletion's UPDATE proceeds, and a put
// after it sees the new status, so no blob lands in a space whose purge began.
//
// An S3-compatible store fits the same store.Blobs interface later: the bytes go to an
// object named <space>/<blob id> (uploaded before the row is written), and this table
// keeps only (space, blob, size) with the usage counter in the same transaction as now.
// A put uploads, then inserts the row and counts it; a delete removes the row and uncounts
// it, then deletes the object; a crash between the two leaves an object no row names,
// which a sweep of unnamed objects older than an hour removes. GetBlob reads the row, then
// the object. Nothing in the interface assumes the bytes and the counter share a database.

func validBlobID(blob string) error {
	if blob == "" {
		return errkind.Errorf("store", errkind.Invalid, "empty blob id")
	}
	return nil
}

// lockSpace locks a space's row and returns its status code, blob usage and owner ("" for
// a space stored without one). Its owner's usage row is locked after it, if at all.
func lockSpace(ctx context.Context, tx pgx.Tx, id crypto.SpaceID) (syncpb.SpaceStatusCode, int64, string, error) {
	var code int16
	var used int64
	var owner *string
	err := tx.QueryRow(ctx, `SELECT code, blob_usage, owner FROM spaces WHERE space_id = $1 FOR UPDATE`, string(id)).Scan(&code, &used, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, "", store.ErrNotFound
	}
	if err == nil && used < 0 {
		return 0, 0, "", errkind.Errorf("store", errkind.Corrupt, "blob usage of space %s is %d", id, used)
	}
	if owner == nil {
		return syncpb.SpaceStatusCode(code), used, "", err
	}
	return syncpb.SpaceStatusCode(code), used, *owner, err
}

// PutBlob implements store.Blobs.
func (s *Store) PutBlob(ctx context.Context, id crypto.SpaceID, blob string, data []byte, lim store.Limits) error {
	if err := validBlobID(blob); err != nil {
		return err
	}
	if data == nil {
		data = []byte{} // bytea NOT NULL: an empty blob is zero bytes, not NULL
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		code, used, owner, err := lockSpace(ctx, tx, id)
		if err != nil {
			return err
		}
		if code != syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK {
			return store.ErrNotLive
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM blobs WHERE space_id = $1 AND blob_id = $2`, string(id), blob).Scan(&one)
		if err == nil {
			return nil // stored already: counted once
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		size := int64(len(data))
		if lim.SpaceBlobBytes > 0 && used+size > lim.SpaceBlobBytes {
			return &store.QuotaError{Kind: store.QuotaSpaceBlobs, Used: used, Limit: lim.SpaceBlobBytes, Size: size}
		}
		if owner != "" {
			var total int64
			err := tx.QueryRow(ctx, `INSERT INTO usage (identity) VALUES ($1) ON CONFLICT (identity) DO UPDATE SET identity = $1
				RETURNING blob_bytes`, owner).Scan(&total) // locks the row, made if missing
			if err != nil {
				return err
			}
			if lim.BlobBytes > 0 && total+size > lim.BlobBytes {
				return &store.QuotaError{Kind: store.QuotaBlobs, Used: total, Limit: lim.BlobBytes, Size: size}
			}
			if _, err := tx.Exec(ctx, `UPDATE usage SET blob_bytes = $2 WHERE identity = $1`, owner, total+size); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO blobs (space_id, blob_id, data) VALUES ($1, $2, $3)`, string(id), blob, data); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE spaces SET blob_usage = $2 WHERE space_id = $1`, string(id), used+size)
		return err
	})
}

// GetBlob implements store.Blobs.
func (s *Store) GetBlob(ctx context.Context, id crypto.SpaceID, blob string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM blobs WHERE space_id = $1 AND blob_id = $2`, string(id), blob).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if data == nil && err == nil {
		data = []byte{}
	}
	return data, err
}

// DeleteBlob implements store.Blobs: the counter never goes below zero.
func (s *Store) DeleteBlob(ctx context.Context, id crypto.SpaceID, blob string) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, used, owner, err := lockSpace(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrNotFound // no space, no blob
		}
		if err != nil {
			return err
		}
		var size int64
		err = tx.QueryRow(ctx, `DELETE FROM blobs WHERE space_id = $1 AND blob_id = $2 RETURNING length(data)`, string(id), blob).Scan(&size)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if owner != "" {
			if _, err := tx.Exec(ctx, `UPDATE usage SET blob_bytes = greatest(blob_bytes - $2, 0) WHERE identity = $1`, owner, size); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE spaces SET blob_usage = $2 WHERE space_id = $1`, string(id), max(used-size, 0))
		return err
	})
}

// BlobUsage implements store.Blobs.
func (s *Store) BlobUsage(ctx context.Context, id crypto.SpaceID) (int64, error) {
	var used int64
	err := s.pool.QueryRow(ctx, `SELECT blob_usage FROM spaces WHERE space_id = $1`, string(id)).Scan(&used)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return used, err
}
