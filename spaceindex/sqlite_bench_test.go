//go:build sqlitebench

package spaceindex

// SQLite baselines for the index benchmarks (modernc.org/sqlite), on the
// same data set and the same queries, built to do the same work as the
// badger index so the ratio is fair (issue 19.5):
//
//   - The same indexes. Hearth keeps a secondary index on type, name,
//     created, modified and the sync status, and composites of type with
//     name, created and modified: SQLite gets exactly those as expression
//     indexes over a JSON column (no type+sync composite: Hearth has none).
//   - The same full text: every string detail but the type (each string
//     value and each string in a list), in one FTS5 column (unicode61,
//     diacritics removed).
//   - The same counters: Hearth maintains a count of records per type;
//     SQLite maintains the same table with triggers, and both answer the
//     total of "type = X" from it. Every other total is counted on both
//     sides: Hearth with Query.ExactTotal, SQLite with COUNT(*) over the
//     same filter. "page" runs the page query alone on both sides (Hearth
//     stops at the page), "page+total" (Hearth) and "page+count" (SQLite)
//     the page and the total.
//   - The same durability: the index is derived data that Hearth never
//     syncs (a crash costs a rebuild from the store), so SQLite runs with
//     synchronous=OFF (WAL journal).
//   - The same batches: transactions of 1,000 objects.
//
// Each query benchmark checks first that SQLite's page holds the same ids
// in the same order as Hearth's. Build tag sqlitebench keeps this large
// dependency out of plain `go test`.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/hearth-sync/hearth/internal/procstat"
)

func toJSON(d Details) any {
	m := make(map[string]any, len(d))
	for k, v := range d {
		m[k] = valueJSON(v)
	}
	return m
}

func valueJSON(v Value) any {
	switch v.Kind() {
	case KindBool:
		return v.AsBool()
	case KindNumber:
		return v.AsNumber()
	case KindString:
		return v.AsString()
	case KindList:
		out := make([]any, len(v.AsList()))
		for i, e := range v.AsList() {
			out[i] = valueJSON(e)
		}
		return out
	}
	return nil
}

// ftsBody is every string of a record's details but its type, as Hearth's
// full text indexes them (keys in order).
func ftsBody(d Details) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var words []string
	var add func(v Value)
	add = func(v Value) {
		switch v.Kind() {
		case KindString:
			words = append(words, v.AsString())
		case KindList:
			for _, e := range v.AsList() {
				add(e)
			}
		}
	}
	for _, k := range keys {
		if k != KeyType {
			add(d[k])
		}
	}
	return strings.Join(words, " ")
}

const jType = `json_extract(data, '$.type')`

var sqliteSchema = []string{
	`PRAGMA journal_mode=WAL`,
	`PRAGMA synchronous=OFF`,
	`CREATE TABLE objects (id TEXT PRIMARY KEY, data TEXT NOT NULL, heads BLOB, sync INTEGER)`,
	`CREATE INDEX o_type ON objects (` + jType + `)`,
	`CREATE INDEX o_name ON objects (json_extract(data, '$.name'))`,
	`CREATE INDEX o_created ON objects (json_extract(data, '$.created'))`,
	`CREATE INDEX o_modified ON objects (json_extract(data, '$.modified'))`,
	`CREATE INDEX o_sync ON objects (sync)`,
	`CREATE INDEX o_type_name ON objects (` + jType + `, json_extract(data, '$.name'))`,
	`CREATE INDEX o_type_created ON objects (` + jType + `, json_extract(data, '$.created'))`,
	`CREATE INDEX o_type_modified ON objects (` + jType + `, json_extract(data, '$.modified'))`,
	`CREATE TABLE counts (type TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
	`CREATE TRIGGER o_count_ins AFTER INSERT ON objects WHEN json_extract(new.data, '$.type') IS NOT NULL BEGIN
		INSERT INTO counts (type, n) VALUES (json_extract(new.data, '$.type'), 1)
			ON CONFLICT(type) DO UPDATE SET n = n + 1;
	END`,
	`CREATE TRIGGER o_count_del AFTER DELETE ON objects BEGIN
		UPDATE counts SET n = n - 1 WHERE type = json_extract(old.data, '$.type');
	END`,
	`CREATE TRIGGER o_count_upd AFTER UPDATE OF data ON objects
		WHEN json_extract(old.data, '$.type') IS NOT json_extract(new.data, '$.type') BEGIN
		UPDATE counts SET n = n - 1 WHERE type = json_extract(old.data, '$.type');
		INSERT INTO counts (type, n) SELECT json_extract(new.data, '$.type'), 1
			WHERE json_extract(new.data, '$.type') IS NOT NULL
			ON CONFLICT(type) DO UPDATE SET n = n + 1;
	END`,
	`CREATE VIRTUAL TABLE fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')`,
}

func openSQLite(b *testing.B, dir string) *sql.DB {
	db, err := sql.Open("sqlite", filepath.Join(dir, "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, s := range sqliteSchema {
		if _, err := db.Exec(s); err != nil {
			b.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

func sqliteLoad(db *sql.DB, recs []Record) error {
	const chunk = 1000
	for i := 0; i < len(recs); i += chunk {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		ins, err := tx.Prepare(`INSERT INTO objects (id, data, heads, sync) VALUES (?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET data = excluded.data, heads = excluded.heads, sync = excluded.sync`)
		if err != nil {
			return err
		}
		fts, err := tx.Prepare(`INSERT INTO fts (rowid, body) VALUES ((SELECT rowid FROM objects WHERE id = ?), ?)`)
		if err != nil {
			return err
		}
		for _, r := range recs[i:min(i+chunk, len(recs))] {
			js, err := json.Marshal(toJSON(r.Details))
			if err != nil {
				return err
			}
			if _, err := ins.Exec(r.ID, string(js), r.HeadsHash, int(r.SyncStatus.State)); err != nil {
				return err
			}
			if _, err := fts.Exec(r.ID, ftsBody(r.Details)); err != nil {
				return err
			}
		}
		ins.Close()
		fts.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkSQLiteBulk: the bulk load of BenchmarkIndexBulk into SQLite with
// the same indexes, counters and full text.
func BenchmarkSQLiteBulk(b *testing.B) {
	recs := benchRecords()
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := openSQLite(b, b.TempDir())
		c0 := procstat.CPUTime()
		b.StartTimer()
		if err := sqliteLoad(db, recs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += procstat.CPUTime() - c0
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "sqlite:objects/s@index-bulk")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

var (
	sqliteOnce sync.Once
	sqliteDB   *sql.DB
)

func sqliteBenchDB(b *testing.B) *sql.DB {
	sqliteOnce.Do(func() {
		db := openSQLite(b, b.TempDir())
		if err := sqliteLoad(db, benchRecords()); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(`ANALYZE`); err != nil {
			b.Fatal(err)
		}
		sqliteDB = db
	})
	if sqliteDB == nil {
		b.Fatal("sqlite benchmark database failed to build")
	}
	return sqliteDB
}

type sqlRow struct {
	id, name, typ string
	modified      float64
}

func sqliteRows(db *sql.DB, q string, args ...any) ([]sqlRow, error) {
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sqlRow
	for rows.Next() {
		var r sqlRow
		if err := rows.Scan(&r.id, &r.name, &r.typ, &r.modified); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const sqlitePageColumns = `id, json_extract(data, '$.name'), ` + jType + `, json_extract(data, '$.modified')`

// sqliteBench runs a page query ("page") and the page plus a count query
// ("page+count"), reporting µs per query under key (key-total) as the
// baseline of the Hearth benchmark running q. It fails first unless the
// page holds Hearth's ids in Hearth's order.
func sqliteBench(b *testing.B, q Query, key, page, count string, args ...any) {
	db := sqliteBenchDB(b)
	want, err := benchIndex(b).Query(context.Background(), q)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := sqliteRows(db, page, args...)
	if err != nil {
		b.Fatalf("query: %v", err)
	}
	got := make([]string, len(rows))
	for i, r := range rows {
		got[i] = r.id
	}
	if !slices.Equal(got, ids(want.Records)) {
		b.Fatalf("SQLite's page differs from Hearth's:\nsqlite %v\nhearth %v", got, ids(want.Records))
	}
	for _, withCount := range []bool{false, true} {
		name, k := "page", key
		if withCount {
			name, k = "page+count", key+"-total"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := sqliteRows(db, page, args...); err != nil {
					b.Fatal(err)
				}
				if withCount {
					var n int
					if err := db.QueryRow(count, args...).Scan(&n); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "sqlite:us@"+k)
		})
	}
}

// BenchmarkSQLiteQueryIndexedSort: type = 'task' ORDER BY modified DESC
// LIMIT 50 on the type+modified index; the count reads the per-type counter
// (as Hearth does). No id tie-break in ORDER BY: it would stop SQLite from
// using the index order (the page check shows no tie matters here).
func BenchmarkSQLiteQueryIndexedSort(b *testing.B) {
	sqliteBench(b, benchSortQuery, "query-indexed-sort",
		`SELECT `+sqlitePageColumns+` FROM objects WHERE `+jType+` = ?
		ORDER BY json_extract(data, '$.modified') DESC LIMIT 50`,
		`SELECT n FROM counts WHERE type = ?`, "task")
}

// BenchmarkSQLiteQueryFullText: FTS5 prefix query, LIMIT 50 in rowid (= id)
// order; the count counts the FTS matches (as Hearth counts postings).
func BenchmarkSQLiteQueryFullText(b *testing.B) {
	q := benchFullTextQuery()
	sqliteBench(b, q, "query-full-text",
		`SELECT o.id, json_extract(o.data, '$.name'), json_extract(o.data, '$.type'),
		json_extract(o.data, '$.modified') FROM fts JOIN objects o ON o.rowid = fts.rowid
		WHERE fts MATCH ? ORDER BY fts.rowid LIMIT 50`,
		`SELECT count(*) FROM fts WHERE fts MATCH ?`, fmt.Sprintf(`"%s"*`, benchFullTextPrefix))
}

// BenchmarkSQLiteQueryTwoTerm: type = 'task' AND done = false ORDER BY
// modified DESC LIMIT 50 (the type+modified index, done checked per row);
// COUNT(*) of the same filter.
func BenchmarkSQLiteQueryTwoTerm(b *testing.B) {
	const where = `WHERE ` + jType + ` = 'task' AND json_extract(data, '$.done') = 0`
	sqliteBench(b, benchTwoTermQuery, "query-two-term",
		`SELECT `+sqlitePageColumns+` FROM objects `+where+` ORDER BY json_extract(data, '$.modified') DESC LIMIT 50`,
		`SELECT count(*) FROM objects `+where)
}

// BenchmarkSQLiteQueryUnindexed: done = false ORDER BY modified DESC LIMIT
// 50 (the modified index, done checked per row); COUNT(*) of the filter.
func BenchmarkSQLiteQueryUnindexed(b *testing.B) {
	const where = `WHERE json_extract(data, '$.done') = 0`
	sqliteBench(b, benchUnindexedQuery, "query-unindexed-filter",
		`SELECT `+sqlitePageColumns+` FROM objects `+where+` ORDER BY json_extract(data, '$.modified') DESC LIMIT 50`,
		`SELECT count(*) FROM objects `+where)
}

// BenchmarkSQLiteQuerySortUnindexed: type = 'task' ORDER BY priority DESC,
// id LIMIT 50 (the type index, then a sort; id breaks ties as Hearth does);
// the count reads the per-type counter.
func BenchmarkSQLiteQuerySortUnindexed(b *testing.B) {
	sqliteBench(b, benchSortUnindexedQuery, "query-sort-unindexed",
		`SELECT `+sqlitePageColumns+` FROM objects WHERE `+jType+` = ?
		ORDER BY json_extract(data, '$.priority') DESC, id LIMIT 50`,
		`SELECT n FROM counts WHERE type = ?`, "task")
}
