package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// The schema. Every id column is text COLLATE "C", so ORDER BY is byte order, as the range
// diff needs (diff.NewSetSorted), whatever the database's default collation.
//
//	hearth_schema(version)                          one row: the schema version
//	spaces(space_id, header, code, deletion_at,     header NULL once purged; the row stays as
//	       last_request, purged, blob_usage)        the status tombstone
//	acl(space_id, seq, record)                      PK (space_id, seq): the acceptor's CAS
//	objects(space_id, object_id, n, heads)          n: the object's arrival counter
//	changes(space_id, object_id, n, change_id, raw) PK (space_id, object_id, n); unique change id
//	members(identity, space_id)                     identity was a member of space
//	blobs(space_id, blob_id, data)                  sealed file chunks (stored uncompressed)
//	usage(identity, spaces, change_bytes,           what the spaces an identity owns hold
//	      blob_bytes)                               (spaces.owner, change_usage: schema 5)
//	meta(name, value)                               cluster facts (the node key)
//	leases(name, holder, expires_at)                one holder at a time (the janitor)
//
// Versions only move forward: each migration is a Go function run in the transaction that
// records its number.
var migrations = []func(ctx context.Context, tx pgx.Tx) error{
	1: execAll(
		`CREATE TABLE spaces (
			space_id text COLLATE "C" PRIMARY KEY,
			header bytea,
			code smallint NOT NULL,
			deletion_at bigint NOT NULL DEFAULT 0,
			last_request bigint NOT NULL DEFAULT 0,
			purged boolean NOT NULL DEFAULT false)`,
		`CREATE TABLE acl (
			space_id text COLLATE "C" NOT NULL,
			seq bigint NOT NULL,
			record bytea NOT NULL,
			PRIMARY KEY (space_id, seq))`,
		`CREATE TABLE objects (
			space_id text COLLATE "C" NOT NULL,
			object_id text COLLATE "C" NOT NULL,
			n bigint NOT NULL,
			heads text[] NOT NULL,
			PRIMARY KEY (space_id, object_id))`,
		`CREATE TABLE changes (
			space_id text COLLATE "C" NOT NULL,
			object_id text COLLATE "C" NOT NULL,
			n bigint NOT NULL,
			change_id text COLLATE "C" NOT NULL,
			raw bytea NOT NULL,
			PRIMARY KEY (space_id, object_id, n),
			UNIQUE (space_id, object_id, change_id))`,
		`CREATE TABLE members (
			identity text COLLATE "C" NOT NULL,
			space_id text COLLATE "C" NOT NULL,
			PRIMARY KEY (identity, space_id))`,
	),
	2: execAll(
		`ALTER TABLE spaces ADD COLUMN blob_usage bigint NOT NULL DEFAULT 0`,
		`CREATE TABLE blobs (
			space_id text COLLATE "C" NOT NULL,
			blob_id text COLLATE "C" NOT NULL,
			data bytea NOT NULL,
			PRIMARY KEY (space_id, blob_id))`,
		// Chunks are sealed by the device: compressing them only costs CPU.
		`ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL`,
	),
	3: execAll(
		`CREATE TABLE meta (name text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)`,
		`CREATE TABLE leases (
			name text COLLATE "C" PRIMARY KEY,
			holder text NOT NULL,
			expires_at timestamptz NOT NULL)`,
	),
	// The two compare-and-swaps of the hot path as functions: one round trip each, the
	// write and its NOTIFY in one statement's transaction. They answer 0 (done), 1 (stale:
	// the swap lost) or 2 (no such space). The payloads are store.Event's encoding
	// (TestWatch decodes them). A change to a function is a new migration.
	4: execAll(
		`CREATE FUNCTION hearth_put_changes(p_space text, p_object text, p_old text[], p_heads text[],
				p_ids text[], p_raws bytea[], p_origin text) RETURNS integer
			LANGUAGE plpgsql AS $$
			DECLARE
				v_n bigint;
				v_cur text[];
				v_added bigint;
			BEGIN
				IF p_old IS NULL THEN
					INSERT INTO objects (space_id, object_id, n, heads)
						SELECT p_space, p_object, 0, '{}' WHERE EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space)
						ON CONFLICT DO NOTHING;
					IF NOT FOUND THEN
						IF NOT EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space) THEN RETURN 2; END IF;
						RETURN 1;
					END IF;
					v_n := 0;
				ELSE
					SELECT n, heads INTO v_n, v_cur FROM objects WHERE space_id = p_space AND object_id = p_object FOR UPDATE;
					IF NOT FOUND THEN
						IF NOT EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space) THEN RETURN 2; END IF;
						RETURN 1;
					END IF;
					IF v_cur IS DISTINCT FROM p_old THEN RETURN 1; END IF;
				END IF;
				INSERT INTO changes (space_id, object_id, n, change_id, raw)
					SELECT p_space, p_object, v_n + row_number() OVER (ORDER BY t.ord), t.id, t.raw
					FROM unnest(p_ids, p_raws) WITH ORDINALITY AS t(id, raw, ord)
					WHERE NOT EXISTS (SELECT 1 FROM changes c
						WHERE c.space_id = p_space AND c.object_id = p_object AND c.change_id = t.id);
				GET DIAGNOSTICS v_added = ROW_COUNT;
				UPDATE objects SET n = v_n + v_added, heads = p_heads WHERE space_id = p_space AND object_id = p_object;
				IF v_added > 0 THEN
					PERFORM pg_notify('hearth_events', format('1 c %s %s %s %s %s', p_origin, p_space, v_n + v_added, p_object, v_n));
				END IF;
				RETURN 0;
			END $$`,
		`CREATE FUNCTION hearth_append_acl(p_space text, p_seq bigint, p_record bytea, p_members text[], p_origin text)
			RETURNS integer LANGUAGE plpgsql AS $$
			BEGIN
				INSERT INTO acl (space_id, seq, record)
					SELECT p_space, p_seq, p_record WHERE EXISTS (SELECT 1 FROM acl WHERE space_id = p_space AND seq = p_seq - 1)
					ON CONFLICT DO NOTHING;
				IF NOT FOUND THEN
					IF NOT EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space AND NOT purged) THEN RETURN 2; END IF;
					RETURN 1;
				END IF;
				INSERT INTO members (identity, space_id) SELECT unnest(p_members), p_space ON CONFLICT DO NOTHING;
				PERFORM pg_notify('hearth_events', format('1 a %s %s %s', p_origin, p_space, p_seq));
				RETURN 0;
			END $$`,
	),
	// Quotas (issue 16.4): each space's owner and the bytes of its changes, and per owner
	// what its spaces hold, every counter updated in the transaction of the write it
	// counts. Spaces stored before have no owner until the node sets it (SetOwner); their
	// change bytes are counted here. Locks are taken spaces row, then usage row, in every
	// function, so two never wait on each other in a cycle. A write over a limit raises
	// SQLSTATE HQ001 (message: used and size), one to a space pending deletion or deleted
	// HQ002; either rolls the statement back.
	5: execAll(
		`ALTER TABLE spaces ADD COLUMN owner text COLLATE "C"`,
		`ALTER TABLE spaces ADD COLUMN change_usage bigint NOT NULL DEFAULT 0`,
		`UPDATE spaces s SET change_usage = c.total
			FROM (SELECT space_id, sum(length(raw))::bigint AS total FROM changes GROUP BY space_id) c
			WHERE c.space_id = s.space_id`,
		`CREATE TABLE usage (
			identity text COLLATE "C" PRIMARY KEY,
			spaces bigint NOT NULL DEFAULT 0,
			change_bytes bigint NOT NULL DEFAULT 0,
			blob_bytes bigint NOT NULL DEFAULT 0)`,
		`DROP FUNCTION hearth_put_changes(text, text, text[], text[], text[], bytea[], text)`,
		`CREATE FUNCTION hearth_put_changes(p_space text, p_object text, p_old text[], p_heads text[],
				p_ids text[], p_raws bytea[], p_origin text, p_limit bigint) RETURNS integer
			LANGUAGE plpgsql AS $$
			DECLARE
				v_n bigint;
				v_cur text[];
				v_added bigint;
				v_bytes bigint;
				v_owner text;
				v_used bigint;
			BEGIN
				IF p_old IS NULL THEN
					INSERT INTO objects (space_id, object_id, n, heads)
						SELECT p_space, p_object, 0, '{}' WHERE EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space)
						ON CONFLICT DO NOTHING;
					IF NOT FOUND THEN
						IF NOT EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space) THEN RETURN 2; END IF;
						RETURN 1;
					END IF;
					v_n := 0;
				ELSE
					SELECT n, heads INTO v_n, v_cur FROM objects WHERE space_id = p_space AND object_id = p_object FOR UPDATE;
					IF NOT FOUND THEN
						IF NOT EXISTS (SELECT 1 FROM spaces WHERE space_id = p_space) THEN RETURN 2; END IF;
						RETURN 1;
					END IF;
					IF v_cur IS DISTINCT FROM p_old THEN RETURN 1; END IF;
				END IF;
				SELECT coalesce(sum(length(t.raw)), 0) INTO v_bytes FROM unnest(p_ids, p_raws) AS t(id, raw)
					WHERE NOT EXISTS (SELECT 1 FROM changes c
						WHERE c.space_id = p_space AND c.object_id = p_object AND c.change_id = t.id);
				UPDATE spaces SET change_usage = change_usage + v_bytes WHERE space_id = p_space AND code = 0 RETURNING owner INTO v_owner;
				IF NOT FOUND THEN
					RAISE EXCEPTION 'space % is being deleted', p_space USING ERRCODE = 'HQ002';
				END IF;
				IF v_bytes > 0 THEN
					IF v_owner IS NOT NULL THEN
						UPDATE usage SET change_bytes = change_bytes + v_bytes
							WHERE identity = v_owner AND (p_limit = 0 OR change_bytes + v_bytes <= p_limit)
							RETURNING change_bytes INTO v_used;
						IF NOT FOUND THEN
							SELECT change_bytes INTO v_used FROM usage WHERE identity = v_owner;
							RAISE EXCEPTION '% %', coalesce(v_used, 0), v_bytes USING ERRCODE = 'HQ001';
						END IF;
					END IF;
				END IF;
				INSERT INTO changes (space_id, object_id, n, change_id, raw)
					SELECT p_space, p_object, v_n + row_number() OVER (ORDER BY t.ord), t.id, t.raw
					FROM unnest(p_ids, p_raws) WITH ORDINALITY AS t(id, raw, ord)
					WHERE NOT EXISTS (SELECT 1 FROM changes c
						WHERE c.space_id = p_space AND c.object_id = p_object AND c.change_id = t.id);
				GET DIAGNOSTICS v_added = ROW_COUNT;
				UPDATE objects SET n = v_n + v_added, heads = p_heads WHERE space_id = p_space AND object_id = p_object;
				IF v_added > 0 THEN
					PERFORM pg_notify('hearth_events', format('1 c %s %s %s %s %s', p_origin, p_space, v_n + v_added, p_object, v_n));
				END IF;
				RETURN 0;
			END $$`,
	),
}

// SchemaVersion is the version this code writes and reads.
var SchemaVersion = len(migrations) - 1

func execAll(stmts ...string) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
}

// migrateLock is the advisory lock key nodes take while migrating (any fixed number).
const migrateLock = 0x4865617274680001

// migrate brings the schema to version upTo, one transaction per version, under an
// advisory lock so that nodes starting together migrate once. A database newer than upTo
// is refused with an actionable error.
func migrate(ctx context.Context, pool *pgxpool.Pool, upTo int) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS hearth_schema (version integer NOT NULL)`); err != nil {
		return err
	}
	for {
		v, err := version(ctx, conn)
		if err != nil {
			return err
		}
		if v > upTo {
			return errkind.Errorf("store.open", errkind.Corrupt, "node database schema %d, this node reads %d: use a matching hearth version", v, upTo)
		}
		if v == upTo {
			return nil
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := migrations[v+1](ctx, tx); err != nil {
				return err
			}
			if v == 0 {
				_, err = tx.Exec(ctx, `INSERT INTO hearth_schema (version) VALUES (1)`)
			} else {
				_, err = tx.Exec(ctx, `UPDATE hearth_schema SET version = $1`, v+1)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate the node database to schema %d: %w", v+1, err)
		}
	}
}

// version reads the schema version; 0 for an empty database.
func version(ctx context.Context, conn *pgxpool.Conn) (int, error) {
	var v int
	err := conn.QueryRow(ctx, `SELECT version FROM hearth_schema`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
