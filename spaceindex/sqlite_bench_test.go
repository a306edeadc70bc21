//go:build sqlitebench

package spaceindex

// SQLite baseline for the index benchmarks: the same data set and queries on
// modernc.org/sqlite with a JSON column, expression indexes on the same keys
// as the badger index (type, name, created, modified, syncStatus and the
// composites type+name, type+created, type+modified, type+syncStatus) and an
// FTS5 table over names (unicode61, diacritics removed). Build tag
// sqlitebench keeps this large dependency out of plain `go test`.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
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

var sqliteSchema = []string{
	`PRAGMA journal_mode=WAL`,
	`PRAGMA synchronous=NORMAL`,
	`CREATE TABLE objects (id TEXT PRIMARY KEY, data TEXT NOT NULL, heads BLOB, sync INTEGER)`,
	`CREATE INDEX o_type ON objects (json_extract(data, '$.type'))`,
	`CREATE INDEX o_name ON objects (json_extract(data, '$.name'))`,
	`CREATE INDEX o_created ON objects (json_extract(data, '$.created'))`,
	`CREATE INDEX o_modified ON objects (json_extract(data, '$.modified'))`,
	`CREATE INDEX o_sync ON objects (sync)`,
	`CREATE INDEX o_type_name ON objects (json_extract(data, '$.type'), json_extract(data, '$.name'))`,
	`CREATE INDEX o_type_created ON objects (json_extract(data, '$.type'), json_extract(data, '$.created'))`,
	`CREATE INDEX o_type_modified ON objects (json_extract(data, '$.type'), json_extract(data, '$.modified'))`,
	`CREATE INDEX o_type_sync ON objects (json_extract(data, '$.type'), sync)`,
	`CREATE VIRTUAL TABLE fts USING fts5(name, tokenize = 'unicode61 remove_diacritics 2')`,
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
		fts, err := tx.Prepare(`INSERT INTO fts (rowid, name) VALUES ((SELECT rowid FROM objects WHERE id = ?), ?)`)
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
			if _, err := fts.Exec(r.ID, r.Details[KeyName].AsString()); err != nil {
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

func BenchmarkSQLiteBulk(b *testing.B) {
	recs := benchRecords()
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := openSQLite(b, b.TempDir())
		c0 := cpuTime()
		b.StartTimer()
		if err := sqliteLoad(db, recs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "objects/s")
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

// BenchmarkSQLiteQueryIndexedSort: type = 'task' ORDER BY modified DESC
// LIMIT 50 selecting three keys, and ("+count") the same plus the total
// count that the badger index's Query always returns. (No id tie-break in
// ORDER BY: it would stop SQLite from using the index order.)
func BenchmarkSQLiteQueryIndexedSort(b *testing.B) {
	db := sqliteBenchDB(b)
	const page = `SELECT id, json_extract(data, '$.name'), json_extract(data, '$.type'),
		json_extract(data, '$.modified') FROM objects WHERE json_extract(data, '$.type') = ?
		ORDER BY json_extract(data, '$.modified') DESC LIMIT 50`
	const count = `SELECT count(*) FROM objects WHERE json_extract(data, '$.type') = ?`
	run := func(b *testing.B, withCount bool) {
		rows, err := sqliteRows(db, page, "task")
		if err != nil || len(rows) != 50 {
			b.Fatalf("query: %v, %d rows", err, len(rows))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sqliteRows(db, page, "task"); err != nil {
				b.Fatal(err)
			}
			if withCount {
				var n int
				if err := db.QueryRow(count, "task").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("page", func(b *testing.B) { run(b, false) })
	b.Run("page+count", func(b *testing.B) { run(b, true) })
}

// BenchmarkSQLiteQueryFullText: FTS5 prefix query, LIMIT 50 in rowid (= id)
// order, selecting three keys; "+count" adds the total.
func BenchmarkSQLiteQueryFullText(b *testing.B) {
	db := sqliteBenchDB(b)
	benchVocab()
	match := fmt.Sprintf(`"%s"*`, benchFullTextPrefix)
	const page = `SELECT o.id, json_extract(o.data, '$.name'), json_extract(o.data, '$.type'),
		json_extract(o.data, '$.modified') FROM fts JOIN objects o ON o.rowid = fts.rowid
		WHERE fts MATCH ? ORDER BY fts.rowid LIMIT 50`
	const count = `SELECT count(*) FROM fts WHERE fts MATCH ?`
	run := func(b *testing.B, withCount bool) {
		rows, err := sqliteRows(db, page, match)
		if err != nil || len(rows) == 0 {
			b.Fatalf("query: %v, %d rows", err, len(rows))
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sqliteRows(db, page, match); err != nil {
				b.Fatal(err)
			}
			if withCount {
				var n int
				if err := db.QueryRow(count, match).Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("page", func(b *testing.B) { run(b, false) })
	b.Run("page+count", func(b *testing.B) { run(b, true) })
}
