package badgerdb

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// DefaultIdleClose is how long a Dormant database stays open after its last
// use.
const DefaultIdleClose = 15 * time.Second

// ErrClosed is returned by a Dormant database after Close.
var ErrClosed = errors.New("badgerdb: database is closed")

// Dormant is a badger database that is open only while it is used: the first
// use opens it, and it closes again once it has been idle for the idle
// period. Badger wakes every open database's compactors 20 times a second
// each; on this project's machines a wakeup costs about 100 µs of CPU, so one
// open database costs about 0.2 CPU-seconds a minute while doing nothing —
// four times a whole device's idle budget (DESIGN §12). An idle device
// therefore keeps no database open: state that idle work needs (the head-sync
// digest, pending counts) is kept in memory by the owners, and a database
// reopens in about 10 ms when something reads or writes it.
//
// Every use holds the database open from Acquire to release (View and Update
// do it for one transaction); a use never sees it close under it. Safe for
// concurrent use.
type Dormant struct {
	open func() (*badger.DB, error)
	idle time.Duration
	log  *slog.Logger // debug lines when the database wakes and sleeps (may be nil)
	name string

	room *Guard // nil: no free-space guard (NewDormant)

	mu       sync.Mutex // guards every field below; never held while opening or closing
	cond     *sync.Cond // on mu: broadcast when busy clears or users drops to 0
	db       *badger.DB // nil while dormant
	readOnly bool       // db was opened read-only: its disk was full (disk.go)
	users    int        // uses in flight
	busy     bool       // opening or closing, with mu released
	closed   bool       // Close was called
	lastUse  time.Time
	timer    *time.Timer // runs sleepIfIdle after the idle period (AfterFunc)
	opens    int64
	lastErr  error // of an idle close, until Close returns it
}

// NewDormant returns a dormant database that open opens on first use and
// closes after idle without use (idle <= 0: DefaultIdleClose). Nothing is
// opened yet.
func NewDormant(open func() (*badger.DB, error), idle time.Duration) *Dormant {
	if idle <= 0 {
		idle = DefaultIdleClose
	}
	d := &Dormant{open: open, idle: idle}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// Acquire returns the open database, opening it first if it is dormant, and
// a release func that must be called once the caller is done with it
// (transactions and iterators included).
func (d *Dormant) Acquire() (*badger.DB, func(), error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		switch {
		case d.closed:
			return nil, nil, ErrClosed
		case d.busy:
			d.cond.Wait()
			continue
		case d.db != nil:
			d.users++
			var once sync.Once
			return d.db, func() { once.Do(d.release) }, nil
		}
		d.busy = true
		d.mu.Unlock()
		readOnly := false
		var db *badger.DB
		var err error
		if d.room != nil {
			db, readOnly, err = d.room.Open(d.log)
		} else {
			db, err = d.open()
		}
		d.mu.Lock()
		d.busy = false
		d.cond.Broadcast()
		if err != nil {
			return nil, nil, err
		}
		d.db, d.readOnly = db, readOnly
		d.opens++
		d.debug("database woke")
	}
}

func (d *Dormant) debug(msg string) {
	if d.log != nil {
		d.log.Debug(msg, "db", d.name)
	}
}

func (d *Dormant) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users--
	d.lastUse = time.Now()
	if d.users > 0 {
		return
	}
	d.cond.Broadcast()
	if d.closed {
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(d.idle, d.sleepIfIdle)
	} else {
		d.timer.Reset(d.idle)
	}
}

// sleepIfIdle closes the database if nobody has used it for the idle period
// (the timer's func).
func (d *Dormant) sleepIfIdle() {
	d.mu.Lock()
	if d.closed || d.busy || d.db == nil || d.users > 0 {
		d.mu.Unlock()
		return
	}
	if left := d.idle - time.Since(d.lastUse); left > 0 {
		d.timer.Reset(left)
		d.mu.Unlock()
		return
	}
	d.closeLocked()
	d.mu.Unlock()
}

// Sleep closes the database now if nobody uses it; it reports whether the
// database is dormant afterwards.
func (d *Dormant) Sleep() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.busy {
		d.cond.Wait()
	}
	if d.db != nil && d.users == 0 && !d.closed {
		d.closeLocked()
	}
	return d.db == nil
}

// closeLocked closes the open database with mu released while it does. The
// caller holds mu, has checked db != nil, users == 0 and !busy.
func (d *Dormant) closeLocked() {
	db := d.db
	d.db = nil
	d.busy = true
	d.mu.Unlock()
	err := db.Close()
	d.mu.Lock()
	d.busy = false
	d.cond.Broadcast()
	if err != nil && d.lastErr == nil {
		d.lastErr = err
	}
	d.debug("database asleep")
}

// View runs fn in a read-only transaction on the (re)opened database.
func (d *Dormant) View(fn func(*badger.Txn) error) error {
	db, release, err := d.Acquire()
	if err != nil {
		return err
	}
	defer release()
	return db.View(fn)
}

// Update runs fn in a read-write transaction on the (re)opened database; on a disk with
// too little room it writes nothing and fails with ErrNoSpace (disk.go).
func (d *Dormant) Update(fn func(*badger.Txn) error) error {
	if err := d.writable(); err != nil {
		return err
	}
	db, release, err := d.Acquire()
	if err != nil {
		return err
	}
	defer release()
	return d.noSpace(db.Update(fn))
}

// writable refuses a write while the disk has too little room, and lets a database that
// was opened read-only (the disk was full) reopen for writing once there is room again.
func (d *Dormant) writable() error {
	if d.room == nil {
		return nil
	}
	if err := d.room.Check(); err != nil {
		return err
	}
	d.mu.Lock()
	ro := d.readOnly
	d.mu.Unlock()
	if ro {
		d.Sleep() // closes it unless in use; the next Acquire opens it for writing
	}
	return nil
}

// noSpace turns the refusal of a read-only database into ErrNoSpace.
func (d *Dormant) noSpace(err error) error {
	if errors.Is(err, badger.ErrReadOnlyTxn) {
		return fmt.Errorf("%s was opened read-only while its disk was full: %w", d.name, ErrNoSpace)
	}
	return err
}

// Open reports whether the database is open right now.
func (d *Dormant) Open() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.db != nil
}

// Opens counts how many times the database was opened.
func (d *Dormant) Opens() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opens
}

// Close waits for uses in flight, closes the database if it is open and
// makes every later use fail with ErrClosed. It returns the error of the
// final close, or of an idle close that failed since. Idempotent.
func (d *Dormant) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	for d.busy || d.users > 0 {
		d.cond.Wait()
	}
	if d.db != nil {
		d.closeLocked()
	}
	err := d.lastErr
	d.lastErr = nil
	return err
}

// NewDormantAt is NewDormant for the database at dir opened with Options, guarded
// against a full disk (disk.go) as the operating system reports it.
func NewDormantAt(dir string, sync bool, log *slog.Logger, idle time.Duration) *Dormant {
	return NewDormantOn(nil, dir, sync, log, idle)
}

// NewDormantOn is NewDormantAt with the free space disk reports (nil: the operating
// system's).
func NewDormantOn(disk *Disk, dir string, sync bool, log *slog.Logger, idle time.Duration) *Dormant {
	return NewDormantWith(disk, Options(dir, sync, log), log, idle)
}

// NewDormantWith is NewDormantOn for a database with opts (ServerOptions, say).
func NewDormantWith(disk *Disk, opts badger.Options, log *slog.Logger, idle time.Duration) *Dormant {
	dir := opts.Dir
	d := NewDormant(nil, idle)
	d.room = NewGuard(disk, opts)
	d.log, d.name = log, dir
	return d
}

// Guard is the free-space guard of one database: Check before every write, Open to open
// it (read-only on a full disk).
type Guard struct {
	disk    *Disk
	opts    badger.Options
	reserve uint64
}

// NewGuard guards the database opts open, on the free space disk reports (nil: the
// operating system's).
func NewGuard(disk *Disk, opts badger.Options) *Guard {
	return &Guard{disk: disk, opts: opts, reserve: Reserve(opts)}
}

// Check returns ErrNoSpace (kind NoSpace) while the database's disk has less than its
// Reserve free.
func (r *Guard) Check() error { return r.disk.Room(r.opts.Dir, r.reserve) }

// Open opens the database; read-only when the disk has too little room and the database
// exists (a new one cannot be made then: ErrNoSpace).
func (r *Guard) Open(log *slog.Logger) (*badger.DB, bool, error) {
	opts := r.opts
	readOnly := false
	if err := r.Check(); err != nil {
		if _, serr := os.Stat(filepath.Join(opts.Dir, badger.ManifestFilename)); serr != nil {
			return nil, false, err
		}
		if log != nil {
			log.Warn("the disk is full: opening a database read-only", "db", opts.Dir, "err", err)
		}
		opts, readOnly = opts.WithReadOnly(true), true
	}
	if err := DropTornValueLogs(opts.Dir); err != nil {
		return nil, false, err
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, false, fmt.Errorf("open database %s: %w", opts.Dir, err)
	}
	return db, readOnly, nil
}

// KV is what most users of a database need: one transaction at a time.
// *badger.DB and *Dormant both have it.
type KV interface {
	View(fn func(*badger.Txn) error) error
	Update(fn func(*badger.Txn) error) error
}

var (
	_ KV = (*badger.DB)(nil)
	_ KV = (*Dormant)(nil)
)
