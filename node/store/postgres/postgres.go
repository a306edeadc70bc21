package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Store is a store.Store on PostgreSQL. Open one per node process: its Watch skips the
// writes made through itself (the node pushed those already).
type Store struct {
	pool   *pgxpool.Pool
	origin string // this instance's id in events
	log    *slog.Logger

	closeOnce sync.Once
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.ACLHead = (*Store)(nil)
	_ store.Feed    = (*Store)(nil)
	_ store.Leaser  = (*Store)(nil)
)

// channel is the NOTIFY channel of every event.
const channel = "hearth_events"

// Server-sized defaults (DESIGN §12 budgets are a phone's; a node is a server): a pool a
// few times the cores, with timeouts so that a node that dies mid-transaction or a stuck
// query releases its locks. A URL's own pool_max_conns wins.
const defaultMaxConns = 32

var connParams = map[string]string{
	"application_name":                    "hearth-node",
	"synchronous_commit":                  "on", // acknowledge only what is durable
	"statement_timeout":                   "60s",
	"idle_in_transaction_session_timeout": "60s",
	"lock_timeout":                        "30s",
}

// Open connects to the database at url (postgres://USER@HOST/DB …), creates or migrates
// its schema, and returns the store.
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	return open(ctx, url, log, SchemaVersion)
}

func open(ctx context.Context, url string, log *slog.Logger, schema int) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included: never pass it on.
		return nil, errkind.Errorf("store.open", errkind.Invalid, "the PostgreSQL URL does not parse (postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?…])")
	}
	if !hasParam(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	for k, v := range connParams {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, errkind.E("store.open", errkind.Other, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, errkind.E("store.open", errkind.Transient, fmt.Errorf("reach PostgreSQL at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err))
	}
	if err := migrate(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Store{pool: pool, origin: hex.EncodeToString(b), log: log}, nil
}

// hasParam reports whether the URL's query sets name.
func hasParam(url, name string) bool {
	return strings.Contains(url, "?"+name+"=") || strings.Contains(url, "&"+name+"=")
}

// Close closes the pool. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// tx runs fn in a read-committed transaction and commits.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// notify sends e in tx: it is delivered if and only if tx commits.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, e store.Event) error {
	e.Origin = s.origin
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, e.Encode())
	return err
}

// spaceState reads whether a space row exists and was purged, for a caller that found
// nothing to do and must tell ErrNotFound from ErrStale.
func spaceState(ctx context.Context, q querier, id crypto.SpaceID) (exists, purged bool, err error) {
	err = q.QueryRow(ctx, `SELECT purged FROM spaces WHERE space_id = $1`, string(id)).Scan(&purged)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	return err == nil, purged, err
}

// querier is what a pool and a transaction both do.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// mustExist returns ErrNotFound unless the space row exists.
func mustExist(ctx context.Context, q querier, id crypto.SpaceID) error {
	ok, _, err := spaceState(ctx, q, id)
	if err == nil && !ok {
		return store.ErrNotFound
	}
	return err
}

func identities(members []crypto.PubKey) []string {
	out := make([]string, len(members))
	for i, k := range members {
		out[i] = string(k.Identity())
	}
	return out
}

func index(ctx context.Context, tx pgx.Tx, id crypto.SpaceID, members []crypto.PubKey) error {
	if len(members) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO members (identity, space_id) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING`,
		identities(members), string(id))
	return err
}

// CreateSpace implements store.Spaces.
func (s *Store) CreateSpace(ctx context.Context, id crypto.SpaceID, header, root []byte, members []crypto.PubKey, owner crypto.PubKey, lim store.Limits) error {
	who := string(owner.Identity())
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO spaces (space_id, header, code, owner) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			string(id), header, int16(syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK), who)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrExists
		}
		tag, err = tx.Exec(ctx, `INSERT INTO usage (identity, spaces) VALUES ($1, 1)
			ON CONFLICT (identity) DO UPDATE SET spaces = usage.spaces + 1 WHERE $2 = 0 OR usage.spaces < $2`, who, lim.Spaces)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var n int64
			if err := tx.QueryRow(ctx, `SELECT spaces FROM usage WHERE identity = $1`, who).Scan(&n); err != nil {
				return err
			}
			return &store.QuotaError{Kind: store.QuotaSpaces, Used: n, Limit: lim.Spaces, Size: 1} // rolls the space back
		}
		if _, err := tx.Exec(ctx, `INSERT INTO acl (space_id, seq, record) VALUES ($1, 1, $2)`, string(id), root); err != nil {
			return err
		}
		if err := index(ctx, tx, id, members); err != nil {
			return err
		}
		return s.notify(ctx, tx, store.Event{Kind: store.EventACL, Space: id, Seq: 1})
	})
}

// Header implements store.Spaces.
func (s *Store) Header(ctx context.Context, id crypto.SpaceID) ([]byte, error) {
	var h []byte
	err := s.pool.QueryRow(ctx, `SELECT header FROM spaces WHERE space_id = $1 AND header IS NOT NULL`, string(id)).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return h, err
}

func scanStatus(row pgx.Row) (store.Status, error) {
	var code int16
	var st store.Status
	if err := row.Scan(&code, &st.DeletionAt, &st.LastRequest, &st.Purged); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Status{}, store.ErrNotFound
		}
		return store.Status{}, err
	}
	st.Code = syncpb.SpaceStatusCode(code)
	return st, nil
}

// Status implements store.Spaces.
func (s *Store) Status(ctx context.Context, id crypto.SpaceID) (store.Status, error) {
	return scanStatus(s.pool.QueryRow(ctx, `SELECT code, deletion_at, last_request, purged FROM spaces WHERE space_id = $1`, string(id)))
}

// SwapStatus implements store.Spaces: a conditional UPDATE. A change of the code or the
// deletion time is told to the other nodes.
func (s *Store) SwapStatus(ctx context.Context, id crypto.SpaceID, old, new store.Status) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE spaces SET code = $2, deletion_at = $3, last_request = $4, purged = $5
			WHERE space_id = $1 AND code = $6 AND deletion_at = $7 AND last_request = $8 AND purged = $9`,
			string(id), int16(new.Code), new.DeletionAt, new.LastRequest, new.Purged,
			int16(old.Code), old.DeletionAt, old.LastRequest, old.Purged)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if err := mustExist(ctx, tx, id); err != nil {
				return err
			}
			return store.ErrStale
		}
		if old.Code == new.Code && old.DeletionAt == new.DeletionAt {
			return nil
		}
		return s.notify(ctx, tx, store.Event{Kind: store.EventStatus, Space: id})
	})
}

// Statuses implements store.Spaces. The rows are read in pages, so fn never runs while a
// query holds a connection for long.
func (s *Store) Statuses(ctx context.Context, fn func(crypto.SpaceID, store.Status) bool) error {
	const page = 1000
	after := ""
	for {
		rows, err := s.pool.Query(ctx, `SELECT space_id, code, deletion_at, last_request, purged FROM spaces
			WHERE space_id > $1 ORDER BY space_id LIMIT $2`, after, page)
		if err != nil {
			return err
		}
		type entry struct {
			id crypto.SpaceID
			st store.Status
		}
		var got []entry
		for rows.Next() {
			var e entry
			var code int16
			var sid string
			if err := rows.Scan(&sid, &code, &e.st.DeletionAt, &e.st.LastRequest, &e.st.Purged); err != nil {
				rows.Close()
				return err
			}
			e.id, e.st.Code = crypto.SpaceID(sid), syncpb.SpaceStatusCode(code)
			got = append(got, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range got {
			if !fn(e.id, e.st) {
				return nil
			}
		}
		if len(got) < page {
			return nil
		}
		after = string(got[len(got)-1].id)
	}
}

// purgeBatch bounds the rows one purge statement deletes, so that purging a large space
// never runs into the statement timeout or holds locks for long.
const purgeBatch = 5000

// Purge implements store.Spaces in bounded statements, table by table (the header last),
// so a purge cut short is finished by the next one.
func (s *Store) Purge(ctx context.Context, id crypto.SpaceID) error {
	for _, table := range []string{"changes", "objects", "acl", "blobs"} {
		q := `DELETE FROM ` + table + ` WHERE ctid IN (SELECT ctid FROM ` + table + ` WHERE space_id = $1 LIMIT $2)`
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			tag, err := s.pool.Exec(ctx, q, string(id), purgeBatch)
			if err != nil {
				return err
			}
			if tag.RowsAffected() < purgeBatch {
				break
			}
		}
	}
	// Last, in one transaction: the counters. The owner is charged off only while the
	// header is there, so a purge run again takes nothing off twice.
	return s.tx(ctx, func(tx pgx.Tx) error {
		var owner *string
		var changes, blobs int64
		var live bool
		err := tx.QueryRow(ctx, `SELECT owner, change_usage, blob_usage, header IS NOT NULL FROM spaces WHERE space_id = $1 FOR UPDATE`,
			string(id)).Scan(&owner, &changes, &blobs, &live)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if live && owner != nil {
			if _, err := tx.Exec(ctx, `UPDATE usage SET spaces = greatest(spaces - 1, 0), change_bytes = greatest(change_bytes - $2, 0),
				blob_bytes = greatest(blob_bytes - $3, 0) WHERE identity = $1`, *owner, changes, blobs); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE spaces SET header = NULL, blob_usage = 0, change_usage = 0 WHERE space_id = $1`, string(id))
		return err
	})
}

// Usage implements store.Quotas.
func (s *Store) Usage(ctx context.Context, owner crypto.PubKey) (store.Usage, error) {
	var u store.Usage
	err := s.pool.QueryRow(ctx, `SELECT spaces, change_bytes, blob_bytes FROM usage WHERE identity = $1`, string(owner.Identity())).
		Scan(&u.Spaces, &u.ChangeBytes, &u.BlobBytes)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Usage{}, nil
	}
	return u, err
}

// SetOwner implements store.Quotas.
func (s *Store) SetOwner(ctx context.Context, id crypto.SpaceID, owner crypto.PubKey) error {
	who := string(owner.Identity())
	return s.tx(ctx, func(tx pgx.Tx) error {
		var changes, blobs int64
		var live bool
		err := tx.QueryRow(ctx, `UPDATE spaces SET owner = $2 WHERE space_id = $1 AND owner IS NULL
			RETURNING change_usage, blob_usage, header IS NOT NULL`, string(id), who).Scan(&changes, &blobs, &live)
		if errors.Is(err, pgx.ErrNoRows) {
			return mustExist(ctx, tx, id) // owned already, or unknown
		}
		if err != nil {
			return err
		}
		spaces := int64(0)
		if live {
			spaces = 1
		}
		_, err = tx.Exec(ctx, `INSERT INTO usage (identity, spaces, change_bytes, blob_bytes) VALUES ($1, $2, $3, $4)
			ON CONFLICT (identity) DO UPDATE SET spaces = usage.spaces + $2, change_bytes = usage.change_bytes + $3,
			blob_bytes = usage.blob_bytes + $4`, who, spaces, changes, blobs)
		return err
	})
}

// AppendACL implements store.ACL: the record is inserted on the (space_id, seq) primary
// key only when record seq-1 exists (hearth_append_acl, one round trip). Two nodes racing
// for seq both try the INSERT; the second waits on the first's key and then inserts
// nothing, so exactly one wins.
func (s *Store) AppendACL(ctx context.Context, id crypto.SpaceID, seq uint64, accepted []byte, members []crypto.PubKey) error {
	if seq < 2 {
		if err := mustExist(ctx, s.pool, id); err != nil {
			return err
		}
		return store.ErrStale // record 1 is the root: CreateSpace stores it
	}
	var res int
	err := s.pool.QueryRow(ctx, `SELECT hearth_append_acl($1, $2, $3, $4, $5)`,
		string(id), int64(seq), accepted, identities(members), s.origin).Scan(&res)
	if err != nil {
		return err
	}
	return swapResult(res)
}

// swapResult maps the answer of a compare-and-swap function.
func swapResult(res int) error {
	switch res {
	case 0:
		return nil
	case 1:
		return store.ErrStale
	case 2:
		return store.ErrNotFound
	}
	return errkind.Errorf("store", errkind.Other, "unexpected answer %d from the database", res)
}

// ACL implements store.ACL.
func (s *Store) ACL(ctx context.Context, id crypto.SpaceID, after uint64, fn func(uint64, []byte) bool) error {
	// Pages, so a long log is never held in one result while fn works.
	const page = 256
	for first := true; ; first = false {
		rows, err := s.pool.Query(ctx, `SELECT seq, record FROM acl WHERE space_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			string(id), int64(after), page)
		if err != nil {
			return err
		}
		type rec struct {
			seq int64
			b   []byte
		}
		recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
			var x rec
			return x, r.Scan(&x.seq, &x.b)
		})
		if err != nil {
			return err
		}
		if first && len(recs) == 0 {
			return mustExist(ctx, s.pool, id) // rows prove the space exists; none do not
		}
		for _, r := range recs {
			if !fn(uint64(r.seq), r.b) {
				return nil
			}
		}
		if len(recs) < page {
			return nil
		}
		after = uint64(recs[len(recs)-1].seq)
	}
}

// LastACL implements store.ACLHead: 0 for a purged space.
func (s *Store) LastACL(ctx context.Context, id crypto.SpaceID) (uint64, error) {
	var last *int64
	err := s.pool.QueryRow(ctx, `SELECT (SELECT max(seq) FROM acl WHERE space_id = $1) FROM spaces WHERE space_id = $1`, string(id)).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	if err != nil || last == nil {
		return 0, err
	}
	return uint64(*last), nil
}

func headStrings(h []crypto.ChangeID) []string {
	out := make([]string, len(h))
	for i, c := range h {
		out[i] = string(c)
	}
	return out
}

func headIDs(h []string) []crypto.ChangeID {
	if len(h) == 0 {
		return nil
	}
	out := make([]crypto.ChangeID, len(h))
	for i, c := range h {
		out[i] = crypto.ChangeID(c)
	}
	return out
}

// PutChanges implements store.Changes with hearth_put_changes, one round trip: the
// object's row is locked (a new object's row is inserted first, so two creators of one
// object conflict on its key), its heads compared with old, the changes it lacks
// inserted, numbered on from its counter in the given order, and counter and heads set.
func (s *Store) PutChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, old, heads []crypto.ChangeID, cs []store.Change, lim store.Limits) error {
	ids := make([]string, 0, len(cs))
	raws := make([][]byte, 0, len(cs))
	seen := map[crypto.ChangeID]bool{}
	for _, c := range cs {
		if len(c.ID) > 255 {
			return errkind.Errorf("store", errkind.Invalid, "change id of %d bytes", len(c.ID))
		}
		if !seen[c.ID] {
			seen[c.ID] = true
			ids = append(ids, string(c.ID))
			raws = append(raws, c.Raw)
		}
	}
	var oldArg []string // NULL: a new object
	if len(old) > 0 {
		oldArg = headStrings(old)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var res int
	err := s.pool.QueryRow(ctx, `SELECT hearth_put_changes($1, $2, $3, $4, $5, $6, $7, $8)`,
		string(id), string(obj), oldArg, headStrings(heads), ids, raws, s.origin, lim.ChangeBytes).Scan(&res)
	if q := quotaOf(err, store.QuotaChanges, lim.ChangeBytes); q != nil {
		return q
	}
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == notLiveSQLState {
		return store.ErrNotLive
	}
	if err != nil {
		return err
	}
	return swapResult(res)
}

// quotaSQLState is what the functions raise for a write over a limit; the message is the
// usage and the size.
const quotaSQLState = "HQ001"

// notLiveSQLState is what hearth_put_changes raises for a space pending deletion or
// deleted.
const notLiveSQLState = "HQ002"

// quotaOf turns a quota exception into a *store.QuotaError (nil for any other error).
func quotaOf(err error, k store.QuotaKind, limit int64) *store.QuotaError {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != quotaSQLState {
		return nil
	}
	q := &store.QuotaError{Kind: k, Limit: limit}
	_, _ = fmt.Sscanf(pe.Message, "%d %d", &q.Used, &q.Size)
	return q
}

// Heads implements store.Changes.
func (s *Store) Heads(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID) ([]crypto.ChangeID, error) {
	var exists bool
	var heads []string
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM spaces WHERE space_id = $1),
		(SELECT heads FROM objects WHERE space_id = $1 AND object_id = $2)`, string(id), string(obj)).Scan(&exists, &heads)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, store.ErrNotFound
	}
	return headIDs(heads), nil
}

// HasChanges implements store.Changes, in one query.
func (s *Store) HasChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, ids []crypto.ChangeID) ([]bool, error) {
	var exists bool
	var got []string
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM spaces WHERE space_id = $1),
		ARRAY(SELECT change_id FROM changes WHERE space_id = $1 AND object_id = $2 AND change_id = ANY($3))`,
		string(id), string(obj), headStrings(ids)).Scan(&exists, &got)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, store.ErrNotFound
	}
	have := map[string]bool{}
	for _, c := range got {
		have[c] = true
	}
	out := make([]bool, len(ids))
	for i, c := range ids {
		out[i] = have[string(c)]
	}
	return out, nil
}

// Changes implements store.Changes.
func (s *Store) Changes(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, fn func(store.Change) bool) error {
	return s.ChangesAfter(ctx, id, obj, 0, fn)
}

// changePage bounds the changes one query reads, changePageBytes their bytes (past
// the first): a change is up to a MiB, so a page of big ones stops early.
const (
	changePage      = 128
	changePageBytes = 4 << 20
)

// ChangesAfter implements store.Changes, reading in pages.
func (s *Store) ChangesAfter(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, after uint64, fn func(store.Change) bool) error {
	for first := true; ; first = false {
		// octet_length reads a stored value's size without reading the value.
		rows, err := s.pool.Query(ctx, `SELECT n, change_id, raw FROM (
				SELECT n, change_id, raw, sum(octet_length(raw)) OVER (ORDER BY n) - octet_length(raw) AS before
				FROM changes WHERE space_id = $1 AND object_id = $2 AND n > $3 ORDER BY n LIMIT $4) q
			WHERE before < $5 ORDER BY n`, string(id), string(obj), int64(after), changePage, changePageBytes)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Change, error) {
			var c store.Change
			var n int64
			var cid string
			err := r.Scan(&n, &cid, &c.Raw)
			c.ID, c.Seq = crypto.ChangeID(cid), uint64(n)
			return c, err
		})
		if err != nil {
			return err
		}
		if len(got) == 0 {
			if first {
				return mustExist(ctx, s.pool, id)
			}
			return nil
		}
		size := 0
		for _, c := range got {
			if !fn(c) {
				return nil
			}
			size += len(c.Raw)
		}
		if len(got) < changePage && size < changePageBytes {
			return nil // neither bound cut the page: it reached the end
		}
		after = got[len(got)-1].Seq
	}
}

// Objects implements store.Changes, in object id (byte) order, in pages.
func (s *Store) Objects(ctx context.Context, id crypto.SpaceID, fn func(crypto.ObjectID, []crypto.ChangeID) bool) error {
	const page = 5000
	after := ""
	for first := true; ; first = false {
		rows, err := s.pool.Query(ctx, `SELECT object_id, heads FROM objects WHERE space_id = $1 AND object_id > $2
			ORDER BY object_id LIMIT $3`, string(id), after, page)
		if err != nil {
			return err
		}
		type row struct {
			obj   string
			heads []string
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.obj, &x.heads)
		})
		if err != nil {
			return err
		}
		if first && len(got) == 0 {
			return mustExist(ctx, s.pool, id)
		}
		for _, r := range got {
			if !fn(crypto.ObjectID(r.obj), headIDs(r.heads)) {
				return nil
			}
		}
		if len(got) < page {
			return nil
		}
		after = got[len(got)-1].obj
	}
}

// SpacesOf implements store.Index.
func (s *Store) SpacesOf(ctx context.Context, who crypto.PubKey) ([]crypto.SpaceID, error) {
	rows, err := s.pool.Query(ctx, `SELECT space_id FROM members WHERE identity = $1 ORDER BY space_id`, string(who.Identity()))
	if err != nil {
		return nil, err
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := make([]crypto.SpaceID, len(got))
	for i, g := range got {
		out[i] = crypto.SpaceID(g)
	}
	return out, nil
}
