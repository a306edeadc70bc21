//go:build sqlitebench

package tests

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

func init() { sqliteInitialLoad = sqliteLoadDump }

// The schema an app keeping these tasks in SQLite would have: the row as JSON, the
// columns its screens filter and sort on indexed, and full text over title and
// description.
var initialSyncSchema = []string{
	`PRAGMA journal_mode=WAL`,
	`PRAGMA synchronous=NORMAL`,
	`CREATE TABLE objects (id TEXT PRIMARY KEY, type TEXT NOT NULL, data TEXT NOT NULL)`,
	`CREATE INDEX o_type_name ON objects (type, json_extract(data, '$.name'))`,
	`CREATE INDEX o_type_created ON objects (type, json_extract(data, '$.created'))`,
	`CREATE INDEX o_status ON objects (json_extract(data, '$.status'))`,
	`CREATE VIRTUAL TABLE fts USING fts5(name, description)`,
}

// sqliteLoadDump reads the JSON dump and writes it into a new SQLite database in
// transactions of 1,000 rows, returning objects per second from opening the dump until
// the last commit.
func sqliteLoadDump(b *testing.B, dump string) float64 {
	began := time.Now()
	raw, err := os.ReadFile(dump)
	require.NoError(b, err)
	var objects []dumpObject
	require.NoError(b, json.Unmarshal(raw, &objects))
	db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "initial.db"))
	require.NoError(b, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, s := range initialSyncSchema {
		_, err := db.Exec(s)
		require.NoError(b, err, s)
	}
	const chunk = 1000
	for i := 0; i < len(objects); i += chunk {
		tx, err := db.Begin()
		require.NoError(b, err)
		ins, err := tx.Prepare(`INSERT INTO objects (id, type, data) VALUES (?, ?, ?)`)
		require.NoError(b, err)
		fts, err := tx.Prepare(`INSERT INTO fts (rowid, name, description) VALUES (last_insert_rowid(), ?, ?)`)
		require.NoError(b, err)
		for _, o := range objects[i:min(i+chunk, len(objects))] {
			js, err := json.Marshal(o.Details)
			require.NoError(b, err)
			_, err = ins.Exec(o.ID, o.Type, string(js))
			require.NoError(b, err)
			name, _ := o.Details["name"].(string)
			desc, _ := o.Details["description"].(string)
			_, err = fts.Exec(name, desc)
			require.NoError(b, err)
		}
		require.NoError(b, ins.Close())
		require.NoError(b, fts.Close())
		require.NoError(b, tx.Commit())
	}
	var n int
	require.NoError(b, db.QueryRow(`SELECT count(*) FROM objects`).Scan(&n))
	require.Equal(b, len(objects), n)
	return float64(n) / time.Since(began).Seconds()
}
