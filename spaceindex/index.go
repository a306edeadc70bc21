package spaceindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/hearth-sync/hearth/internal/badgerdb"
)

// PhoneOptions returns the badger options used for one space index: small
// memtables and caches, two compactors, no compression (blocks are read from
// the mmapped tables, so no block cache is needed), no sync writes (the
// index is derived; the store is the source of truth), no logging, no
// conflict detection (the index serialises its writers), and values over 64
// bytes (records and the composite entries that carry them) kept in the
// value log rather than the LSM tree. Measured on the 100k-object set, that
// last choice halves the CPU of a bulk load and cuts the heap held during
// sustained writes from about 48 to 16 MiB per index (compaction's table
// builders copy far fewer bytes), at no measurable cost to queries. Eight
// level-0 tables before compaction (not four) cut the CPU of the 100k bulk
// load by about a quarter (12.7–14.6 to 9.2–10.7 s, two runs each on the
// shared machine): fewer, larger L0→Lbase merges.
func PhoneOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithLogger(nil).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithSyncWrites(false).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithNumLevelZeroTables(8).
		WithNumLevelZeroTablesStall(16).
		WithNumCompactors(2).
		WithNumGoroutines(1).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithValueThreshold(64).
		WithValueLogFileSize(16 << 20)
}

// index is one open badger database holding a space's records and their
// secondary and full-text entries. Reads are concurrent; writers are
// serialised by writeMu so that the read-modify-write of records and
// counters within a write transaction is consistent.
type index struct {
	db        *badger.DB
	dir       string // the index/ directory
	cfg       Config
	indexed   []string
	ftKeys    []string
	secPrefix map[string][]byte // indexed key -> secondary prefix
	// compositeSort are the keys paired with each composite prefix key:
	// every indexed key but the sync status (which changes often and is
	// rarely a sort key).
	compositeSort map[string]bool
	batchBytes    int64
	batchCount    int64
	// valueThreshold: values this long or longer go to the value log.
	valueThreshold int64

	writeMu sync.Mutex // serialises Put, Delete and SetSyncStatus; guards seq
	seq     uint64     // the change feed's sequence number (feed.go)
	// feed is the registry entry's change feed, told about every committed
	// write (feed.go). Nil until the registry attaches it.
	feed *feed
	// snaps is the read transaction queries share until the next commit
	// (snapshot.go).
	snaps snapshots
}

// configFingerprint identifies what an index holds besides the schema version.
func configFingerprint(cfg Config) string {
	ix := cfg.indexedKeys()
	slices.Sort(ix)
	ft := "*" // every key
	if keys := cfg.fullTextKeys(); keys != nil {
		slices.Sort(keys)
		ft = "=" + strings.Join(slices.Compact(keys), "\x1f")
	}
	return "indexed=" + strings.Join(ix, "\x1f") + "\x1efulltext" + ft
}

// openIndex opens (creating if needed) the index under dir.
func openIndex(dir string, cfg Config, tune func(badger.Options) badger.Options) (*index, error) {
	gen, err := currentGeneration(dir)
	if err != nil {
		return nil, err
	}
	removeStaleGenerations(dir, gen) // swap.go
	return openGeneration(dir, gen, cfg, tune)
}

// openGeneration opens (creating if needed) the database of one generation
// of the index under dir.
func openGeneration(dir, gen string, cfg Config, tune func(badger.Options) badger.Options) (*index, error) {
	if err := checkTables(filepath.Join(dir, gen)); err != nil { // tablecheck.go
		return nil, fmt.Errorf("spaceindex: open %s: %w", dir, err)
	}
	opts := PhoneOptions(filepath.Join(dir, gen))
	if tune != nil {
		opts = tune(opts)
	}
	if err := badgerdb.DropTornValueLogs(opts.Dir); err != nil {
		return nil, fmt.Errorf("spaceindex: open %s: %w", dir, err)
	}
	db, err := badger.Open(opts)
	if err != nil {
		if strings.Contains(err.Error(), "directory lock") {
			return nil, fmt.Errorf("spaceindex: open %s: %w", dir, err)
		}
		return nil, fmt.Errorf("spaceindex: open %s: %w: %w", dir, ErrCorrupt, err)
	}
	ix := &index{
		db:             db,
		dir:            dir,
		cfg:            cfg,
		indexed:        cfg.indexedKeys(),
		ftKeys:         cfg.fullTextKeys(),
		secPrefix:      map[string][]byte{},
		compositeSort:  map[string]bool{},
		batchBytes:     db.MaxBatchSize() * 8 / 10,
		batchCount:     db.MaxBatchCount() * 8 / 10,
		valueThreshold: opts.ValueThreshold,
	}
	for _, k := range ix.indexed {
		ix.secPrefix[k] = secondaryPrefix(k)
		if k != KeySyncStatus {
			ix.compositeSort[k] = true
		}
	}
	if err := ix.checkSchema(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if ix.seq, err = readFeedSeq(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return ix, nil
}

// currentGeneration reads index/CURRENT, creating index/ and CURRENT (naming
// the first generation) when absent.
func currentGeneration(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	switch {
	case err == nil:
		gen := strings.TrimSpace(string(b))
		if gen == "" || strings.ContainsAny(gen, `/\`) || gen == "." || gen == ".." {
			return "", fmt.Errorf("spaceindex: %s: bad %s %q: %w", dir, currentFile, gen, ErrCorrupt)
		}
		return gen, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("spaceindex: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("spaceindex: %w", err)
	}
	if err := writeCurrent(dir, firstGeneration); err != nil { // swap.go: durably
		return "", fmt.Errorf("spaceindex: %w", err)
	}
	return firstGeneration, nil
}

// checkSchema writes the schema record into an empty database, or checks it.
func (ix *index) checkSchema() error {
	want := binary.AppendUvarint(nil, schemaVersion)
	want = append(want, configFingerprint(ix.cfg)...)
	return ix.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(schemaKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			it := txn.NewIterator(badger.IteratorOptions{})
			it.Rewind()
			empty := !it.Valid()
			it.Close()
			if !empty {
				return fmt.Errorf("spaceindex: %s: data without schema record: %w", ix.dir, ErrCorrupt)
			}
			return txn.Set(schemaKey(), want)
		}
		if err != nil {
			return fmt.Errorf("spaceindex: %s: reading schema: %w: %w", ix.dir, ErrCorrupt, err)
		}
		got, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("spaceindex: %s: reading schema: %w: %w", ix.dir, ErrCorrupt, err)
		}
		if !bytes.Equal(got, want) {
			v, _ := binary.Uvarint(got)
			return fmt.Errorf("spaceindex: %s: schema version %d (want %d) or configuration differs: %w",
				ix.dir, v, schemaVersion, ErrSchemaMismatch)
		}
		return nil
	})
}

func (ix *index) close() error {
	ix.snaps.close()
	return ix.db.Close()
}

// entryKeys appends the secondary, composite and full-text keys of r. The
// keys share one buffer (one allocation per record, not per key); they stay
// valid until the write commits, since nothing writes to the buffer again.
func (ix *index) entryKeys(dst [][]byte, r *Record) [][]byte {
	toks := recordTokens(r, ix.ftKeys)
	var buf []byte
	{
		n := 0
		for _, k := range ix.indexed {
			n += len(ix.secPrefix[k]) + 24 + len(r.ID)
		}
		n += len(compositePrefixKeys) * len(ix.indexed) * (48 + len(r.ID))
		for _, t := range toks {
			n += len(t) + 2 + len(r.ID)
		}
		buf = make([]byte, 0, n)
	}
	// Each key is appended to buf and taken as buf[start:]; a key that
	// outgrows buf's capacity moves it, and the keys already taken keep the
	// old array.
	take := func(start int) { dst = append(dst, buf[start:len(buf):len(buf)]) }
	for _, k := range ix.indexed {
		v, ok := r.Field(k)
		start := len(buf)
		buf = appendSecondaryKey(buf, ix.secPrefix[k], v, ok, r.ID)
		take(start)
	}
	for _, pk := range compositePrefixKeys {
		pv, ok := r.Field(pk)
		if !ok {
			continue
		}
		for _, sk := range ix.indexed {
			if !ix.compositeSort[sk] || sk == pk {
				continue
			}
			v, ok := r.Field(sk)
			start := len(buf)
			buf = appendCompositeKey(buf, pk, pv, sk, v, ok, r.ID)
			take(start)
		}
	}
	for _, t := range toks {
		start := len(buf)
		buf = appendTextKey(buf, t, r.ID)
		take(start)
	}
	return dst
}

// counterDelta is a change to one counter.
type counterDelta struct {
	key string
	d   int64
}

// addCounters adds d to the counters r contributes to.
func addCounters(dst []counterDelta, r *Record, d int64) []counterDelta {
	for _, pk := range compositePrefixKeys {
		v, ok := r.Field(pk)
		if !ok {
			continue
		}
		k := string(counterKey(pk, v))
		if i := slices.IndexFunc(dst, func(c counterDelta) bool { return c.key == k }); i >= 0 {
			dst[i].d += d
			continue
		}
		dst = append(dst, counterDelta{k, d})
	}
	return dst
}

func validateRecord(r *Record) error {
	if r.ID == "" || len(r.ID) > MaxIDLen {
		return fmt.Errorf("%w: id length %d", ErrInvalidRecord, len(r.ID))
	}
	return nil
}

// writeBatch applies whole records to a write transaction and commits it
// (asynchronously, so the next records are prepared while badger applies
// the previous ones) before it would exceed badger's size limits, never
// splitting one record's operations across two transactions. Counters are
// cached with their absolute values for the whole call: the caller holds
// writeMu, so nothing else changes them, and an in-flight commit of this
// call is the only writer that the next transaction could not yet see.
type writeBatch struct {
	ix       *index
	txn      *badger.Txn
	size     int64
	count    int64
	counters map[string]int64 // counter key -> absolute value
	dirty    map[string]bool  // counters changed in txn
	records  int64            // absolute record count; -1 until read
	recDirty bool
	// committed: a transaction of this call was handed to badger, so a
	// failure after it leaves part of the call applied.
	committed bool

	inflight chan struct{} // bounds outstanding async commits
	wg       sync.WaitGroup
	errMu    sync.Mutex
	err      error // first async commit error
}

type kv struct{ k, v []byte }

// maxAsyncCommits bounds the transactions one call has in flight.
const maxAsyncCommits = 4

func newWriteBatch(ix *index) *writeBatch {
	return &writeBatch{ix: ix, counters: map[string]int64{}, dirty: map[string]bool{}, records: -1,
		inflight: make(chan struct{}, maxAsyncCommits)}
}

// entrySize is badger's estimate of an entry's share of a transaction
// (Entry.estimateSizeAndSetThreshold plus the 10 bytes txn.checkSize adds):
// values at or over the value threshold count as a 12-byte pointer.
func (ix *index) entrySize(k, v []byte) int64 {
	if int64(len(v)) >= ix.valueThreshold {
		return int64(len(k)) + 12 + 2 + 10
	}
	return int64(len(k)+len(v)) + 2 + 10
}

// counterEntrySize is the transaction cost of one counter write.
const counterEntrySize = 64 + 8 + 2 + 10

// recordOps are the operations of one record.
type recordOps struct {
	sets     []kv
	dels     [][]byte
	counters []counterDelta // no zero deltas
	records  int64
}

func (o *recordOps) empty() bool {
	return len(o.sets) == 0 && len(o.dels) == 0 && len(o.counters) == 0 && o.records == 0
}

// cost returns the transaction bytes and entries ops need, counting every
// counter it touches and the record count as new to the transaction.
func (o *recordOps) cost(ix *index) (size, count int64) {
	for _, s := range o.sets {
		size += ix.entrySize(s.k, s.v)
	}
	for _, d := range o.dels {
		size += ix.entrySize(d, nil)
	}
	for _, c := range o.counters {
		size += int64(len(c.key)) + 8 + 2 + 10
	}
	size += counterEntrySize
	return size, int64(len(o.sets)+len(o.dels)+len(o.counters)) + 1
}

// add applies one record's operations, committing the transaction first when
// they would not fit.
func (b *writeBatch) add(ops *recordOps) error {
	if err := b.asyncErr(); err != nil {
		return err
	}
	size, count := ops.cost(b.ix)
	if size >= b.ix.batchBytes || count >= b.ix.batchCount {
		return fmt.Errorf("%w: record needs %d bytes / %d entries in one transaction (limit %d / %d)",
			ErrInvalidRecord, size, count, b.ix.batchBytes, b.ix.batchCount)
	}
	if b.txn != nil && (b.size+size >= b.ix.batchBytes || b.count+count >= b.ix.batchCount) {
		// The next transaction begins before this one commits: badger's
		// NewTransaction waits until every commit before it is applied, so
		// one begun after this commit would wait for all of it, and the
		// records of the next transaction could not be prepared while
		// badger writes this one. Its reads cannot miss this commit's
		// writes: it only reads counters this call has not cached, and
		// this call writes no others (see writeBatch).
		next := b.ix.db.NewTransaction(true)
		if err := b.commit(); err != nil {
			next.Discard()
			return err
		}
		b.txn = next
	}
	if b.txn == nil {
		b.txn = b.ix.db.NewTransaction(true)
	}
	for _, d := range ops.dels {
		if err := b.txn.Delete(d); err != nil {
			return fmt.Errorf("spaceindex: write: %w", err)
		}
	}
	for _, s := range ops.sets {
		if err := b.txn.Set(s.k, s.v); err != nil {
			return fmt.Errorf("spaceindex: write: %w", err)
		}
	}
	for _, c := range ops.counters {
		k, d := c.key, c.d
		cur, ok := b.counters[k]
		if !ok {
			n, err := readCounter(b.txn, []byte(k))
			if err != nil {
				return fmt.Errorf("spaceindex: write: %w", err)
			}
			cur = int64(n)
		}
		b.counters[k] = cur + d
		b.dirty[k] = true
	}
	if ops.records != 0 {
		if b.records < 0 {
			n, err := readCounter(b.txn, countKey())
			if err != nil {
				return fmt.Errorf("spaceindex: write: %w", err)
			}
			b.records = int64(n)
		}
		b.records += ops.records
		b.recDirty = true
	}
	b.size += size
	b.count += count
	return nil
}

func putCounter(txn *badger.Txn, k []byte, n int64) error {
	if n <= 0 {
		return txn.Delete(k)
	}
	return txn.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// commit writes the dirty counters and commits the transaction
// asynchronously.
func (b *writeBatch) commit() error {
	txn := b.txn
	if txn == nil {
		return nil
	}
	b.txn, b.size, b.count = nil, 0, 0
	b.committed = true
	for k := range b.dirty {
		if err := putCounter(txn, []byte(k), b.counters[k]); err != nil {
			txn.Discard()
			return fmt.Errorf("spaceindex: write: %w", err)
		}
	}
	clear(b.dirty)
	if b.recDirty {
		if err := putCounter(txn, countKey(), b.records); err != nil {
			txn.Discard()
			return fmt.Errorf("spaceindex: write: %w", err)
		}
		b.recDirty = false
	}
	b.inflight <- struct{}{}
	b.wg.Add(1)
	txn.CommitWith(func(err error) {
		b.ix.snaps.committed() // visible now (or failed): the next query takes a new snapshot
		if err != nil {
			b.errMu.Lock()
			if b.err == nil {
				b.err = fmt.Errorf("spaceindex: commit: %w", err)
			}
			b.errMu.Unlock()
		}
		<-b.inflight
		b.wg.Done()
	})
	return nil
}

func (b *writeBatch) asyncErr() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// finish commits what is left and waits for every commit of the call.
func (b *writeBatch) finish() error {
	err := b.commit()
	b.wg.Wait()
	if err != nil {
		return err
	}
	return b.asyncErr()
}

// abort discards the open transaction and waits for commits in flight.
func (b *writeBatch) abort() {
	if b.txn != nil {
		b.txn.Discard()
		b.txn = nil
	}
	b.wg.Wait()
}

// diffOps computes the operations turning old (nil: absent) into new (nil:
// delete).
func (ix *index) diffOps(id string, old, new *Record) *recordOps {
	ops := &recordOps{}
	var oldKeys, newKeys [][]byte
	var newEnc []byte
	if new != nil {
		newEnc = appendRecord(nil, new)
		if old != nil && bytes.Equal(appendRecord(nil, old), newEnc) {
			return ops // unchanged
		}
	}
	if old != nil {
		oldKeys = ix.entryKeys(nil, old)
		ops.counters = addCounters(ops.counters, old, -1)
	}
	if new != nil {
		newKeys = ix.entryKeys(make([][]byte, 0, 32), new)
		ops.counters = addCounters(ops.counters, new, 1)
		ops.sets = make([]kv, 0, len(newKeys)+1)
		ops.sets = append(ops.sets, kv{recordKey(id), newEnc})
	} else if old != nil {
		ops.dels = append(ops.dels, recordKey(id))
	}
	ops.counters = slices.DeleteFunc(ops.counters, func(c counterDelta) bool { return c.d == 0 })
	switch {
	case old == nil && new != nil:
		ops.records = 1
	case old != nil && new == nil:
		ops.records = -1
	}
	// Composite entries cover the record: their value is its encoding.
	set := func(k []byte) {
		var v []byte
		if k[0] == prefixComposite {
			v = newEnc
		}
		ops.sets = append(ops.sets, kv{k, v})
	}
	if old == nil {
		for _, k := range newKeys {
			set(k)
		}
		return ops
	}
	slices.SortFunc(oldKeys, bytes.Compare)
	slices.SortFunc(newKeys, bytes.Compare)
	i, j := 0, 0
	for i < len(oldKeys) || j < len(newKeys) {
		switch {
		case j == len(newKeys) || (i < len(oldKeys) && bytes.Compare(oldKeys[i], newKeys[j]) < 0):
			ops.dels = append(ops.dels, oldKeys[i])
			i++
		case i == len(oldKeys) || bytes.Compare(oldKeys[i], newKeys[j]) > 0:
			set(newKeys[j])
			j++
		default:
			if newKeys[j][0] == prefixComposite {
				set(newKeys[j])
			}
			i++
			j++
		}
	}
	return ops
}

// getRecord reads one record within txn; (nil, nil) when absent.
func getRecord(txn *badger.Txn, id string, keys []string) (*Record, error) {
	var r Record
	ok, err := readRecord(txn, recordKey(id), id, keys, &r, nil)
	if !ok {
		return nil, err
	}
	return &r, nil
}

// readRecord reads the record under key (recordKey(id)) within txn into r,
// with only keys (nil: all) and its strings in a (nil: allocated each);
// false when absent.
func readRecord(txn *badger.Txn, key []byte, id string, keys []string, r *Record, a *arena) (bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("spaceindex: get %q: %w", id, err)
	}
	if err := item.Value(func(v []byte) error { return decodeRecordInto(r, id, v, keys, false, a) }); err != nil {
		return false, fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
	}
	return true, nil
}

// mutate applies fn's replacement for each id under the write lock: fn gets
// the current record (nil if absent) and returns the new one (nil deletes;
// returning cur unchanged with keep=true skips the id). The write's batch
// reaches the feed's watchers after the lock is released, before mutate
// returns.
func (ix *index) mutate(ctx context.Context, ids []string, fn func(i int, cur *Record) (next *Record, skip bool, err error)) error {
	ix.writeMu.Lock()
	read := ix.db.NewTransaction(false)
	tell, err := ix.mutateLocked(ctx, read, ids, fn)
	read.Discard()
	ix.writeMu.Unlock()
	tell.deliver()
	return err
}

// load writes records whose ids are not in the index yet (a rebuild's full
// scan writes each object once into an empty generation): it skips reading
// the current records, which a bulk load would pay for every record.
func (ix *index) load(ctx context.Context, recs []Record) error {
	ids := make([]string, len(recs))
	for i := range recs {
		if err := validateRecord(&recs[i]); err != nil {
			return err
		}
		ids[i] = recs[i].ID
	}
	ix.writeMu.Lock()
	tell, err := ix.mutateLocked(ctx, nil, ids, func(i int, _ *Record) (*Record, bool, error) {
		r := recs[i]
		return &r, false, nil
	})
	ix.writeMu.Unlock()
	tell.deliver()
	return err
}

// mutateLocked is mutate with writeMu held; a nil read transaction means
// every id is absent. The caller delivers the returned batch (nil: none)
// once it has released writeMu.
func (ix *index) mutateLocked(ctx context.Context, read *badger.Txn, ids []string, fn func(i int, cur *Record) (next *Record, skip bool, err error)) (*pendingBatch, error) {
	overlay := map[string]*Record{}
	b := newWriteBatch(ix)
	changes, err := ix.applyAll(ctx, read, overlay, b, ids, fn)
	if err == nil && len(changes) > 0 {
		next := ix.seq + 1
		err = b.add(&recordOps{sets: []kv{{feedSeqKey(), binary.BigEndian.AppendUint64(nil, next)}}})
	}
	if err == nil {
		err = b.addWatermark(ctx) // watermark.go
	}
	if err != nil {
		b.abort()
		return ix.told(b.committed, nil), err
	}
	if err := b.finish(); err != nil {
		return ix.told(true, nil), err
	}
	return ix.told(false, changes), nil
}

// told advances the sequence number and queues the feed's batch for a
// write: its changes, or a reset when it failed after committing some of
// them (nil when there is nothing to tell). Caller holds writeMu, which
// fixes the batches' order; the caller delivers after releasing it.
func (ix *index) told(failedAfterCommit bool, changes []Change) *pendingBatch {
	if ix.feed == nil || (!failedAfterCommit && len(changes) == 0) {
		return nil
	}
	ix.seq++
	b := Batch{Seq: ix.seq, Changes: changes}
	if failedAfterCommit {
		b = Batch{Seq: ix.seq, Reset: true}
	}
	return ix.feed.queue(b)
}

// applyAll adds fn's replacements to b and returns the records that changed.
func (ix *index) applyAll(ctx context.Context, read *badger.Txn, overlay map[string]*Record, b *writeBatch,
	ids []string, fn func(i int, cur *Record) (next *Record, skip bool, err error)) ([]Change, error) {
	var changes []Change
	for i, id := range ids {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		cur, seen := overlay[id]
		if !seen && read != nil {
			var err error
			if cur, err = getRecord(read, id, nil); err != nil {
				return nil, err
			}
		}
		next, skip, err := fn(i, cur)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		ops := ix.diffOps(id, cur, next)
		if ops.empty() {
			continue
		}
		if err := b.add(ops); err != nil {
			return nil, err
		}
		overlay[id] = next
		changes = append(changes, Change{ID: id, Record: next, Prev: cur})
	}
	return changes, nil
}

func (ix *index) put(ctx context.Context, recs []Record) error {
	ids := make([]string, len(recs))
	for i := range recs {
		if err := validateRecord(&recs[i]); err != nil {
			return err
		}
		ids[i] = recs[i].ID
	}
	return ix.mutate(ctx, ids, func(i int, _ *Record) (*Record, bool, error) {
		r := recs[i]
		r.Details = maps.Clone(r.Details)
		r.HeadsHash = slices.Clone(r.HeadsHash)
		return &r, false, nil
	})
}

func (ix *index) delete(ctx context.Context, ids []string) error {
	return ix.mutate(ctx, ids, func(_ int, cur *Record) (*Record, bool, error) {
		return nil, cur == nil, nil
	})
}

func (ix *index) setSyncStatus(ctx context.Context, id string, st SyncStatus) error {
	return ix.mutate(ctx, []string{id}, func(_ int, cur *Record) (*Record, bool, error) {
		if cur == nil {
			return nil, false, fmt.Errorf("spaceindex: set sync status of %q: %w", id, ErrNotFound)
		}
		if cur.SyncStatus == st {
			return cur, true, nil
		}
		next := *cur
		next.SyncStatus = st
		return &next, false, nil
	})
}

func (ix *index) get(ctx context.Context, id string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	txn := ix.db.NewTransaction(false)
	defer txn.Discard()
	r, err := getRecord(txn, id, nil)
	if err != nil {
		return Record{}, err
	}
	if r == nil {
		return Record{}, fmt.Errorf("spaceindex: get %q: %w", id, ErrNotFound)
	}
	return *r, nil
}

// forEachHead calls fn for every record in id order with its heads hash.
// heads is only valid during the call.
func (ix *index) forEachHead(ctx context.Context, fn func(id string, heads []byte) error) error {
	txn := ix.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecord}})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		item := it.Item()
		id := string(item.Key()[1:])
		err := item.Value(func(v []byte) error {
			h, _, err := decodeHeads(v)
			if err != nil {
				return fmt.Errorf("spaceindex: record %q: %w: %w", id, ErrCorrupt, err)
			}
			return fn(id, h)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readCounter returns the uint64 at key k (0 when absent).
func readCounter(txn *badger.Txn, k []byte) (int, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("spaceindex: counter: %w", ErrCorrupt)
		}
		n = int(binary.BigEndian.Uint64(v))
		return nil
	})
	return n, err
}
