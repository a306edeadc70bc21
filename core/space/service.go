package space

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"golang.org/x/sync/singleflight"

	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/core/spacestore"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/protocol/space"
	"github.com/hearth-sync/hearth/spaceindex"
)

// Mode is a space's mode on this device (DESIGN §7).
type Mode uint8

// Modes.
const (
	ModeUnloaded Mode = iota
	ModeLoading
	ModeLoaded
	ModeJoining
	ModeOffloading
	ModeOffloaded
)

// inviteKeyFile holds the private key of the no-approval invite a space was
// joined through (0600), beside the space's store.
const inviteKeyFile = "invite.key"

// IndexConfig is what every space indexes beyond the common keys: full
// text covers every string detail but the type (spaceindex.Config's
// default).
var IndexConfig = spaceindex.Config{}

// Config configures a Service.
type Config struct {
	// Account signs ACL records and changes; Device provisionally accepts
	// ACL records of spaces the node has not seen yet.
	Account crypto.PrivKey
	Device  crypto.PrivKey
	// DB is the account database (the space registry lives there).
	DB badgerdb.KV
	// SpacesDir is accounts/<id>/spaces.
	SpacesDir string
	// NodeKey is the pinned node key (nil: local-only, never pinned).
	NodeKey NodeKey
	// Hooks are told when spaces load and unload (sync, status, …).
	Hooks Hooks
	// Offload are the subsystems an offload tells.
	Offload OffloadHooks
	// Files are the account's file markers (nil: file objects cannot be stored).
	Files FileMarkers
	// OnChange is told whenever a space's mode or statuses change (for UI
	// events). It must not call back into the Service.
	OnChange func(Entry)
	// Disk reports free space (nil: the operating system's): the space stores
	// refuse writes with too little room (badgerdb.Disk).
	Disk *badgerdb.Disk
	Log  *slog.Logger
	Now  func() time.Time
}

// Hooks receive the lifecycle's pushes (DESIGN §7): they never call back
// into the Service. Loaded runs after a space loaded; Unloading before it
// closes. Nil hooks are skipped.
type Hooks struct {
	Loaded    func(*Space)
	Unloading func(crypto.SpaceID)
}

// Service owns the account's spaces on this device.
type Service struct {
	cfg      Config
	registry *spaceindex.Registry

	mu         sync.Mutex // guards loaded, loading, offloading, closed; never held across I/O
	loaded     map[crypto.SpaceID]*Space
	loading    map[crypto.SpaceID]chan struct{} // closed when that load ends
	offloading map[crypto.SpaceID]bool
	closed     bool

	offloads singleflight.Group // one offload per space at a time

	// Offloads whose step failed are retried with backoff (offload.go):
	// retries holds their timers (guarded by mu), retrying counts the ones
	// running, so Close stops the timers and waits for them.
	retries  map[crypto.SpaceID]*time.Timer
	retrying sync.WaitGroup

	accountSpace struct { // AccountSpaceID's result, computed once
		once sync.Once
		id   crypto.SpaceID
		err  error
	}
}

// New makes the service. It opens no database: spaces load on first use.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NodeKey == nil {
		cfg.NodeKey = func() (crypto.PubKey, bool) { return crypto.PubKey{}, false }
	}
	return &Service{
		cfg:        cfg,
		registry:   spaceindex.NewRegistry(cfg.SpacesDir),
		loaded:     map[crypto.SpaceID]*Space{},
		loading:    map[crypto.SpaceID]chan struct{}{},
		offloading: map[crypto.SpaceID]bool{},
	}
}

// Registry is the index registry, for the lifecycle's hooks and tests.
func (s *Service) Registry() *spaceindex.Registry { return s.registry }

func (s *Service) nowMs() int64 { return s.cfg.Now().UnixMilli() }

// Create makes a new space owned by the account and loads it. It works
// offline: the ACL root is accepted provisionally by this device until the
// node accepts it.
func (s *Service) Create(ctx context.Context, name string) (crypto.SpaceID, error) {
	const op = "space.create"
	now := s.nowMs()
	h, err := space.NewHeader(s.cfg.Account, now)
	if err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	readKey, err := crypto.NewSymKey()
	if err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	rootRaw, err := acl.Builder{Author: s.cfg.Account}.Root(h.ID, readKey, now)
	if err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	rec, err := acl.VerifyAuthor(rootRaw)
	if err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	accepted, err := acl.Countersign(s.cfg.Device, rec, 1)
	if err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	// Check the root applies before anything reaches the disk.
	if _, err := acl.New(h.ID, h.Creator).Apply(accepted); err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	info := Info{ID: h.ID, Name: name, Incarnation: newIncarnation(), AccountStatus: AccountActive, LocalStatus: LocalOK, CreatedAt: now, StatusAt: now}
	if err := s.install(info, h.Raw, [][]byte{accepted.Accepted}, true); err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	if _, err := s.Get(ctx, h.ID); err != nil {
		return "", err
	}
	s.refer(ctx, info)
	return h.ID, nil
}

// refer records a space in the account space. A failure is logged, not
// returned: the space exists, and Reconcile writes missing references.
func (s *Service) refer(ctx context.Context, in Info) {
	if in.Account {
		return
	}
	if err := s.PutRef(ctx, Ref{Space: in.ID, Name: in.Name, Status: in.AccountStatus, StatusAt: in.StatusAt}); err != nil {
		s.cfg.Log.Warn("could not record the space in the account space", "space", in.ID, "err", err)
	}
}

// Reconcile makes the account space's references match the spaces this
// device knows (unchanged ones cost nothing).
func (s *Service) Reconcile(ctx context.Context) error {
	infos, err := listInfos(s.cfg.DB)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if in.Account {
			continue
		}
		if err := s.PutRef(ctx, Ref{Space: in.ID, Name: in.Name, Status: in.AccountStatus, StatusAt: in.StatusAt}); err != nil {
			return err
		}
	}
	return nil
}

// Import stores a space pulled from the node — a space of the account
// created on another device, or one joined through an invite — and registers
// it. Its records must be accepted by the pinned node. Importing a space the
// account already knows fails with kind Exists.
func (s *Service) Import(ctx context.Context, header []byte, records [][]byte, name string) (crypto.SpaceID, error) {
	return s.ImportJoined(ctx, header, records, name, AccountActive, crypto.PrivKey{})
}

// ImportJoined is Import for a space joined through an invite: status is
// Joining while an admin must approve, and inviteKey (of a no-approval
// invite) is kept, in a 0600 file beside the store, because the read key is
// sealed to it until the next rotation.
func (s *Service) ImportJoined(ctx context.Context, header []byte, records [][]byte, name string, status AccountStatus, inviteKey crypto.PrivKey) (crypto.SpaceID, error) {
	const op = "space.import"
	h, err := space.Verify(header)
	if err != nil {
		return "", errkind.E(op, errkind.Corrupt, err)
	}
	prev, known, err := getInfo(s.cfg.DB, h.ID)
	if err != nil {
		return "", err
	}
	if known && prev.LocalStatus != LocalMissing {
		return "", errkind.Errorf(op, errkind.Exists, "space %s is already on this device", h.ID)
	}
	// An offloaded space (kicked, left, or freed by the user) comes back as
	// a new incarnation: nothing of the old one is reused.
	nodeKey, ok := s.cfg.NodeKey()
	if !ok {
		return "", errkind.Errorf(op, errkind.Precondition, "no pinned node key")
	}
	if _, err := acl.Replay(acl.New(h.ID, h.Creator), nodeKey, records); err != nil {
		return "", errkind.E(op, errkind.Corrupt, err)
	}
	now := s.nowMs()
	info := Info{ID: h.ID, Name: name, Incarnation: newIncarnation(), AccountStatus: status, LocalStatus: LocalOK, CreatedAt: now, StatusAt: now}
	if known && name == "" {
		info.Name = prev.Name
	}
	if !inviteKey.IsZero() {
		dir := filepath.Dir(s.storeDir(info))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", errkind.E(op, errkind.Other, err)
		}
		if err := datadir.WriteFileAtomic(filepath.Join(dir, inviteKeyFile), inviteKey.Marshal(), 0o600); err != nil {
			return "", errkind.E(op, errkind.Other, err)
		}
	}
	if err := s.install(info, h.Raw, records, false); err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	if err := s.PutRef(ctx, Ref{Space: info.ID, Name: info.Name, Status: info.AccountStatus, StatusAt: info.StatusAt, InviteKey: inviteKey}); err != nil {
		s.cfg.Log.Warn("could not record the space in the account space", "space", info.ID, "err", err)
	}
	return h.ID, nil
}

// install writes a new space's store (header and accepted ACL records), then
// its registry entry. The entry comes last: a crash before it leaves an
// unknown directory, never a known space without data.
func (s *Service) install(info Info, header []byte, records [][]byte, provisional bool) error {
	store, err := spacestore.OpenOn(s.cfg.Disk, s.storeDir(info), s.cfg.Log)
	if err != nil {
		return err
	}
	err = store.SetHeader(header)
	if err == nil {
		err = store.AddAcl(1, records, provisional)
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return putInfo(s.cfg.DB, info)
}

// LoadPending loads, at start, the spaces that must be loaded before anyone
// asks for them: those that had changes the node had not acknowledged when
// they last unloaded (they must push them). Every other space is kept on
// disk and loads when something uses it (Get), or when the node has news of
// it. Offloaded, left, removed and joining spaces open nothing.
func (s *Service) LoadPending(ctx context.Context) error {
	infos, err := listInfos(s.cfg.DB)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range infos {
		if in.AccountStatus == AccountActive && in.LocalStatus == LocalOK && !in.Account && (in.Pending || in.Digest == "") {
			// No digest: it never unloaded cleanly (a crash, or a space from
			// before digests were kept), so its pending state is unknown.
			if _, err := s.Get(ctx, in.ID); err != nil {
				errs = append(errs, fmt.Errorf("space %s: %w", in.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Kept is a space kept on disk and not loaded, with the head-sync digest it
// had when it last unloaded (Known false: none recorded).
type Kept struct {
	ID     crypto.SpaceID
	Digest diff.Digest
	Known  bool
}

// Kept lists the active spaces with data on disk that are not loaded.
func (s *Service) Kept() ([]Kept, error) {
	infos, err := listInfos(s.cfg.DB)
	if err != nil {
		return nil, err
	}
	var out []Kept
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range infos {
		if in.Account || in.AccountStatus != AccountActive || in.LocalStatus != LocalOK || in.RemoteStatus == RemotePendingDeletion || in.RemoteStatus == RemoteDeleted {
			continue
		}
		if s.loaded[in.ID] != nil || s.loading[in.ID] != nil || s.offloading[in.ID] {
			continue
		}
		k := Kept{ID: in.ID}
		k.Digest, k.Known = parseDigest(in.Digest)
		out = append(out, k)
	}
	return out, nil
}

// Idle lists the loaded spaces (the account space apart) that nothing has
// used for idle and that have no change the node lacks, least recently used
// first, and when the next one falls idle (zero: none loaded).
func (s *Service) Idle(idle time.Duration) (ids []crypto.SpaceID, next time.Time) {
	now := s.cfg.Now()
	type cand struct {
		id   crypto.SpaceID
		used time.Time
	}
	var cands []cand
	s.mu.Lock()
	for id, sp := range s.loaded {
		used := sp.LastUse()
		switch {
		case sp.accountSpace:
		case now.Sub(used) < idle:
			if at := used.Add(idle); next.IsZero() || at.Before(next) {
				next = at
			}
		case sp.PendingCount() > 0:
		default:
			cands = append(cands, cand{id, used})
		}
	}
	s.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].used.Before(cands[j].used) })
	for _, c := range cands {
		ids = append(ids, c.id)
	}
	return ids, next
}

func formatDigest(d diff.Digest) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, d.Count)) + hex.EncodeToString(d.Hash[:])
}

func parseDigest(s string) (diff.Digest, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8+32 {
		return diff.Digest{}, false
	}
	d := diff.Digest{Count: binary.BigEndian.Uint64(b)}
	copy(d.Hash[:], b[8:])
	return d, true
}

// Entry is a known space with its mode.
type Entry struct {
	Info
	Mode Mode
}

// List returns every space the account knows, loaded or not, by id; the
// internal account space is not among them.
func (s *Service) List() ([]Entry, error) {
	infos, err := listInfos(s.cfg.DB)
	if err != nil {
		return nil, errkind.E("space.list", errkind.Corrupt, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(infos))
	for _, in := range infos {
		if !in.Account {
			out = append(out, Entry{Info: in, Mode: s.modeLocked(in)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Service) modeLocked(in Info) Mode {
	switch {
	case s.offloading[in.ID]:
		return ModeOffloading
	case s.loaded[in.ID] != nil:
		return ModeLoaded
	case s.loading[in.ID] != nil:
		return ModeLoading
	case in.LocalStatus == LocalMissing:
		return ModeOffloaded
	case in.AccountStatus == AccountJoining:
		return ModeJoining
	}
	return ModeUnloaded
}

// Loaded lists the loaded spaces.
func (s *Service) Loaded() []crypto.SpaceID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]crypto.SpaceID, 0, len(s.loaded))
	for id := range s.loaded {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Get returns the loaded space, loading it first if needed. Concurrent
// callers share one load.
func (s *Service) Get(ctx context.Context, id crypto.SpaceID) (*Space, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errkind.Errorf("space", errkind.Precondition, "the account is stopping")
		}
		if sp := s.loaded[id]; sp != nil {
			s.mu.Unlock()
			sp.touch()
			return sp, nil
		}
		if s.offloading[id] {
			s.mu.Unlock()
			return nil, errkind.Errorf("space", errkind.Precondition, "space %s is being offloaded", id)
		}
		if wait := s.loading[id]; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.loading[id] = done
		s.mu.Unlock()

		sp, err := s.load(id)

		s.mu.Lock()
		if err == nil && s.closed { // Close ran while we loaded: undo
			delete(s.loading, id)
			close(done)
			s.mu.Unlock()
			s.unload(sp)
			return nil, errkind.Errorf("space", errkind.Precondition, "the account is stopping")
		}
		if err == nil {
			s.loaded[id] = sp
		}
		s.mu.Unlock()
		if err == nil && s.cfg.Hooks.Loaded != nil {
			s.cfg.Hooks.Loaded(sp) // before waiters see the space: it is fully wired
		}
		s.mu.Lock()
		delete(s.loading, id)
		close(done)
		s.mu.Unlock()
		if err == nil {
			s.changed(id)
		}
		return sp, err
	}
}

// load opens a known space's store and index and starts its actor.
func (s *Service) load(id crypto.SpaceID) (*Space, error) {
	const op = "space.load"
	info, ok, err := getInfo(s.cfg.DB, id)
	if err != nil {
		return nil, errkind.E(op, errkind.Corrupt, err)
	}
	if !ok {
		return nil, errkind.Errorf(op, errkind.NotFound, "no space %s", id)
	}
	switch {
	case info.AccountStatus == AccountRemoved:
		return nil, errkind.Errorf(op, errkind.Removed, "you were removed from space %s", id)
	case info.AccountStatus == AccountDeleted:
		return nil, errkind.Errorf(op, errkind.Removed, "space %s was left or deleted", id)
	case info.AccountStatus == AccountJoining:
		return nil, errkind.Errorf(op, errkind.Precondition, "space %s: the join request waits for approval", id)
	case info.LocalStatus == LocalMissing:
		return nil, errkind.Errorf(op, errkind.Precondition, "space %s is offloaded: load it first", id)
	}
	// The actor is the store's only writer: it commits in groups.
	store, err := spacestore.OpenGroupedOn(s.cfg.Disk, s.storeDir(info), s.cfg.Log)
	if err != nil {
		return nil, errkind.E(op, errkind.Other, err)
	}
	sp := &Space{
		id: id, store: store, author: s.cfg.Account, log: s.cfg.Log, accountSpace: info.Account,
		device: s.cfg.Device.Public(), node: s.cfg.NodeKey, files: s.cfg.Files,
		now:     s.nowMs,
		reqs:    make(chan request),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		objects: map[crypto.ObjectID]*object{},
	}
	if raw, err := os.ReadFile(filepath.Join(filepath.Dir(s.storeDir(info)), inviteKeyFile)); err == nil {
		if sp.inviteKey, err = crypto.UnmarshalPrivKey(raw); err != nil {
			store.Close()
			return nil, errkind.E(op, errkind.Corrupt, err)
		}
	}
	if err := sp.load(); err != nil {
		store.Close()
		return nil, errkind.E(op, errkind.Corrupt, err)
	}
	ctx := context.Background() // a load that started must finish or fail on its own
	// openIndex rebuilds an index that is broken (rebuild.go).
	if err := s.openIndex(ctx, sp, info.Incarnation); err != nil {
		store.Close()
		return nil, errkind.E(op, errkind.Other, err)
	}
	if err := sp.heal(ctx); err != nil {
		s.cfg.Log.Warn("index heal failed: rebuilding the index", "space", id, "err", err)
		s.rebuildOnLoad(ctx, sp, SourceFullScan)
	}
	sp.touch()
	go sp.run()
	return sp, nil
}

// heal re-indexes objects whose index record misses changes the store has
// (a crash between persisting a change and indexing it). Before the actor
// starts, so it owns the space's state.
func (sp *Space) heal(ctx context.Context) error {
	var stale []crypto.ObjectID
	err := sp.store.Objects(func(id string, m spacestore.Meta) error {
		got, err := sp.index.Heads(ctx, id)
		if m.Deleted {
			if err == nil { // deleted in the store, still in the index
				stale = append(stale, crypto.ObjectID(id))
			}
			return nil
		}
		if err != nil || string(got) != headsHash(m.Heads) {
			stale = append(stale, crypto.ObjectID(id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(stale) > healMax { // rebuild.go: faster, and derives sync statuses
		return fmt.Errorf("%d objects out of date in the index: %w", len(stale), errIndexFarBehind)
	}
	for _, id := range stale {
		obj, err := sp.object(id)
		if err != nil {
			return err
		}
		if err := sp.reindex(obj); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		sp.log.Info("index healed", "space", sp.id, "objects", len(stale))
	}
	if err := sp.flushIndex(); err != nil {
		return err
	}
	return sp.index.SetWatermark(ctx, sp.storeSeq()) // every record matches the store now
}

// Unload unloads a loaded space (a no-op for one that is not loaded).
func (s *Service) Unload(id crypto.SpaceID) error {
	sp := s.takeLoaded(id)
	if sp == nil {
		return nil
	}
	err := s.unload(sp)
	s.changed(id)
	return err
}

// unload stops a space's actor and closes its store and index, recording
// its digest and whether it has changes to push (LoadPending, Kept).
func (s *Service) unload(sp *Space) error {
	if s.cfg.Hooks.Unloading != nil {
		s.cfg.Hooks.Unloading(sp.id)
	}
	err := sp.close()
	if err == nil {
		digest, pending := formatDigest(sp.store.Digest()), sp.PendingCount() > 0
		if _, _, uerr := s.update(sp.id, func(in *Info) bool {
			if in.Digest == digest && in.Pending == pending {
				return false
			}
			in.Digest, in.Pending = digest, pending
			return true
		}); uerr != nil && !errkind.Is(uerr, errkind.NotFound) {
			s.cfg.Log.Warn("recording an unloaded space's digest", "space", sp.id, "err", uerr)
		}
	}
	s.checkpointOnUnload(sp) // rebuild.go
	return errors.Join(err, s.registry.Close(context.Background(), string(sp.id)))
}

// Close unloads every space. The Service must not be used after.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	for id, t := range s.retries {
		if t.Stop() { // it will not run: it counts as done
			s.retrying.Done()
		}
		delete(s.retries, id)
	}
	s.mu.Unlock()
	s.retrying.Wait()
	s.mu.Lock()
	all := s.loaded
	s.loaded = map[crypto.SpaceID]*Space{}
	waits := make([]chan struct{}, 0, len(s.loading))
	for _, w := range s.loading {
		waits = append(waits, w)
	}
	s.mu.Unlock()
	for _, w := range waits {
		<-w
	}
	var errs []error
	for _, sp := range all {
		errs = append(errs, s.unload(sp))
	}
	errs = append(errs, s.registry.CloseAll())
	return errors.Join(errs...)
}

func (s *Service) storeDir(in Info) string {
	return filepath.Join(s.cfg.SpacesDir, string(in.ID), in.Incarnation, "store")
}

// SpaceDirExists reports whether any file of the space remains on disk.
func (s *Service) SpaceDirExists(id crypto.SpaceID) bool {
	_, err := os.Stat(filepath.Join(s.cfg.SpacesDir, string(id)))
	return err == nil
}

// InviteKey returns the key of the invite the account joined a space
// through, if this device keeps it.
func (s *Service) InviteKey(id crypto.SpaceID) (crypto.PrivKey, bool) {
	in, err := s.Info(id)
	if err != nil {
		return crypto.PrivKey{}, false
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(s.storeDir(in)), inviteKeyFile))
	if err != nil {
		return crypto.PrivKey{}, false
	}
	k, err := crypto.UnmarshalPrivKey(raw)
	return k, err == nil
}

// StoredAcl returns the verified ACL records in a space's store without
// loading the space (for a space waiting to be joined).
func (s *Service) StoredAcl(id crypto.SpaceID) ([]acl.VerifiedRecord, error) {
	in, err := s.Info(id)
	if err != nil {
		return nil, err
	}
	store, err := spacestore.OpenOn(s.cfg.Disk, s.storeDir(in), s.cfg.Log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	records, err := store.AclRecords()
	if err != nil {
		return nil, err
	}
	key, ok := s.cfg.NodeKey()
	if !ok {
		return nil, errkind.Errorf("space.acl", errkind.Precondition, "no pinned node key")
	}
	out := make([]acl.VerifiedRecord, 0, len(records))
	for _, raw := range records {
		rec, err := acl.Verify(raw, key)
		if err != nil {
			return nil, errkind.E("space.acl", errkind.Corrupt, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// SetAccountStatus changes a known space's account status (and its
// reference in the account space).
func (s *Service) SetAccountStatus(ctx context.Context, id crypto.SpaceID, st AccountStatus) error {
	in, changed, err := s.update(id, func(in *Info) bool {
		if in.AccountStatus == st {
			return false
		}
		in.AccountStatus = st
		in.StatusAt = max(s.nowMs(), in.StatusAt+1) // strictly newer than what it replaces
		return true
	})
	if err != nil || !changed {
		return err
	}
	s.refer(ctx, in)
	s.changed(id)
	return nil
}

// SetRemoteStatus records the space's status on the node.
func (s *Service) SetRemoteStatus(id crypto.SpaceID, st RemoteStatus) error {
	_, changed, err := s.update(id, func(in *Info) bool {
		if in.RemoteStatus == st {
			return false
		}
		in.RemoteStatus = st
		return true
	})
	if err == nil && changed {
		s.changed(id)
	}
	return err
}

// update is updateInfo with the Service's error kinds.
func (s *Service) update(id crypto.SpaceID, fn func(*Info) bool) (Info, bool, error) {
	in, changed, err := updateInfo(s.cfg.DB, id, fn)
	switch {
	case errors.Is(err, errNoSpace):
		return in, false, errkind.Errorf("space", errkind.NotFound, "no space %s", id)
	case err != nil:
		return in, false, errkind.E("space.status", errkind.Other, err)
	}
	return in, changed, nil
}

// changed tells OnChange a space's current entry.
func (s *Service) changed(id crypto.SpaceID) {
	if s.cfg.OnChange == nil {
		return
	}
	in, ok, err := getInfo(s.cfg.DB, id)
	if err != nil || !ok || in.Account {
		return
	}
	s.mu.Lock()
	e := Entry{Info: in, Mode: s.modeLocked(in)}
	s.mu.Unlock()
	s.cfg.OnChange(e)
}

// Info returns a known space's registry entry.
func (s *Service) Info(id crypto.SpaceID) (Info, error) {
	in, ok, err := getInfo(s.cfg.DB, id)
	if err != nil {
		return Info{}, errkind.E("space", errkind.Corrupt, err)
	}
	if !ok {
		return Info{}, errkind.Errorf("space", errkind.NotFound, "no space %s", id)
	}
	return in, nil
}

// newIncarnation names a new incarnation directory: lower-case, no padding.
func newIncarnation() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "i" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func headsHash(heads []string) string {
	ids := make([]crypto.ChangeID, len(heads))
	for i, h := range heads {
		ids[i] = crypto.ChangeID(h)
	}
	return objtree.HeadsHash(ids)
}
