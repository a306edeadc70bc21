package account

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Info is what may be shown about an account: never key material.
type Info struct {
	ID       crypto.Identity // the account id
	DeviceID crypto.Identity // this device's id
	Name     string
}

// Account is an open account: its keys and its database.
type Account struct {
	keys     Keys
	db       *badgerdb.Dormant // the account database, open only while used
	attached io.Closer         // what the open hook attached; closed before db

	nameFile string // accounts/<id>/name

	mu   sync.Mutex // guards info (the name changes on Recover)
	info Info
}

// Info describes the account.
func (a *Account) Info() Info {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info
}

// Keys is the account's key material. Callers must never log it.
func (a *Account) Keys() Keys { return a.keys }

// DB is the account database.
func (a *Account) DB() *badgerdb.Dormant { return a.db }

// Attached is what the Service's open hook attached to this account.
func (a *Account) Attached() io.Closer { return a.attached }

// OpenHook runs when an account opens, after its database: it starts the
// account's services and returns what closes them (before the database).
type OpenHook func(*Account) (io.Closer, error)

// Service manages the accounts of one data dir. The caller holds the data
// dir lock for the Service's lifetime.
type Service struct {
	layout datadir.Layout
	log    *slog.Logger
	now    func() time.Time

	opMu sync.Mutex     // serialises Create, Recover, Select, Stop, Close (held across disk I/O)
	hook OpenHook       // set once before use
	disk *badgerdb.Disk // set once before use; nil: the operating system's free space

	mu      sync.Mutex // guards current; never held across I/O
	current *Account
}

// NewService manages the accounts under root. now is the clock (nil: time.Now).
func NewService(root string, log *slog.Logger, now func() time.Time) *Service {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Service{layout: datadir.Layout{Root: root}, log: log, now: now}
}

// SetDisk sets what reports free space to the account databases (nil: the
// operating system). Call it before any other method.
func (s *Service) SetDisk(d *badgerdb.Disk) { s.disk = d }

// SetOpenHook sets the hook run on every account open. Call it before any
// other method.
func (s *Service) SetOpenHook(h OpenHook) { s.hook = h }

// ErrNoAccount is returned (wrapped, kind Precondition) while no account is
// selected.
var ErrNoAccount = errors.New("no account selected: create or recover one")

// Current returns the selected account, or ErrNoAccount.
func (s *Service) Current() (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return nil, errkind.E("account", errkind.Precondition, ErrNoAccount)
	}
	return s.current, nil
}

// Create makes a new account with a new mnemonic and device key, stores it
// and selects it (stopping the account selected before). It returns the
// mnemonic: the only way to recover the account.
func (s *Service) Create(name string) (Info, string, error) {
	const op = "account.create"
	mnemonic, err := crypto.NewMnemonic()
	if err != nil {
		return Info{}, "", errkind.E(op, errkind.Other, err)
	}
	accKey, err := crypto.AccountKeyFromMnemonic(mnemonic)
	if err != nil {
		return Info{}, "", errkind.E(op, errkind.Other, err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	id := accKey.Public().Identity()
	if _, err := os.Stat(s.layout.Keys(string(id))); err == nil {
		return Info{}, "", errkind.Errorf(op, errkind.Exists, "account %s already exists on this data dir", id)
	}
	keys, err := s.newDevice(accKey)
	if err != nil {
		return Info{}, "", errkind.E(op, errkind.Other, err)
	}
	acc, err := s.install(keys, name)
	if err != nil {
		return Info{}, "", errkind.E(op, errkind.Of(err), err)
	}
	return acc.Info(), mnemonic, nil
}

// Recover derives the account from its mnemonic and selects it. On a data
// dir that already holds the account it reuses this device's keys; otherwise
// it makes a new device key. A non-empty name replaces the stored one.
func (s *Service) Recover(mnemonic, name string) (Info, error) {
	const op = "account.recover"
	accKey, err := crypto.AccountKeyFromMnemonic(mnemonic)
	if err != nil {
		return Info{}, errkind.E(op, errkind.Invalid, err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	id := accKey.Public().Identity()
	if _, err := os.Stat(s.layout.Keys(string(id))); err == nil {
		acc, err := s.selectLocked(string(id))
		if err != nil {
			return Info{}, errkind.E(op, errkind.Of(err), err)
		}
		if name != "" {
			if err := acc.setName(name); err != nil {
				return Info{}, errkind.E(op, errkind.Other, err)
			}
		}
		return acc.Info(), nil
	}
	keys, err := s.newDevice(accKey)
	if err != nil {
		return Info{}, errkind.E(op, errkind.Other, err)
	}
	acc, err := s.install(keys, name)
	if err != nil {
		return Info{}, errkind.E(op, errkind.Of(err), err)
	}
	return acc.Info(), nil
}

// Select opens an account stored on this data dir (stopping the one
// selected before) and remembers it for the next start.
func (s *Service) Select(id string) (Info, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	acc, err := s.selectLocked(id)
	if err != nil {
		return Info{}, err
	}
	return acc.Info(), nil
}

// SelectLast selects the account selected when the data dir was last used,
// if any. ok is false when there is none.
func (s *Service) SelectLast() (info Info, ok bool, err error) {
	b, err := os.ReadFile(s.layout.Selected())
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, false, nil
	}
	if err != nil {
		return Info{}, false, errkind.E("account.select", errkind.Other, err)
	}
	id := strings.TrimSpace(string(b))
	if _, err := os.Stat(s.layout.Keys(id)); err != nil {
		s.log.Warn("the last selected account is gone from the data dir", "account", id)
		return Info{}, false, nil
	}
	info, err = s.Select(id)
	return info, err == nil, err
}

// List returns the ids of the accounts stored on this data dir, sorted.
func (s *Service) List() ([]crypto.Identity, error) {
	entries, err := os.ReadDir(s.layout.Accounts())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errkind.E("account.list", errkind.Other, err)
	}
	var ids []crypto.Identity
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := crypto.ParseIdentity(e.Name()); err != nil {
			continue
		}
		if _, err := os.Stat(s.layout.Keys(e.Name())); err == nil {
			ids = append(ids, crypto.Identity(e.Name()))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// Stop closes the selected account. It is a no-op when none is selected.
func (s *Service) Stop() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	return s.stopLocked()
}

// Close stops the selected account; the Service must not be used after.
func (s *Service) Close() error { return s.Stop() }

// newDevice makes a device key and its certificate for the account.
func (s *Service) newDevice(accKey crypto.PrivKey) (Keys, error) {
	dev, err := crypto.GenerateKey()
	if err != nil {
		return Keys{}, err
	}
	cert, err := crypto.NewDeviceCert(accKey, dev.Public(), s.now().UnixMilli())
	if err != nil {
		return Keys{}, err
	}
	return Keys{Account: accKey, Device: dev, DeviceCert: cert}, nil
}

// install writes a new account's folder and key file, then selects it.
func (s *Service) install(keys Keys, name string) (*Account, error) {
	id := string(keys.Account.Public().Identity())
	if err := os.MkdirAll(s.layout.Account(id), 0o700); err != nil {
		return nil, err
	}
	data, err := encodeKeys(keys)
	if err != nil {
		return nil, err
	}
	if err := datadir.WriteFileAtomic(s.layout.Keys(id), data, 0o600); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	acc, err := s.selectLocked(id)
	if err != nil {
		return nil, err
	}
	if err := acc.setName(name); err != nil {
		return nil, err
	}
	return acc, nil
}

// selectLocked opens account id and makes it current. Caller holds opMu.
func (s *Service) selectLocked(id string) (*Account, error) {
	const op = "account.select"
	if _, err := crypto.ParseIdentity(id); err != nil {
		return nil, errkind.E(op, errkind.Invalid, fmt.Errorf("%q is not an account id", id))
	}
	if cur, _ := s.Current(); cur != nil && string(cur.Info().ID) == id {
		return cur, nil
	}
	raw, err := os.ReadFile(s.layout.Keys(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errkind.Errorf(op, errkind.NotFound, "account %s is not on this data dir", id)
	}
	if err != nil {
		return nil, errkind.E(op, errkind.Other, err)
	}
	keys, err := decodeKeys(raw)
	if err != nil {
		return nil, errkind.E(op, errkind.Corrupt, err)
	}
	if string(keys.Account.Public().Identity()) != id {
		return nil, errkind.Errorf(op, errkind.Corrupt, "key file of %s holds another account's key", id)
	}
	if err := s.stopLocked(); err != nil {
		return nil, err
	}
	db := badgerdb.NewDormantOn(s.disk, s.layout.AccountDB(id), true, s.log, badgerdb.DefaultIdleClose)
	_, release, err := db.Acquire() // a database that cannot open fails the select
	if err != nil {
		db.Close()
		return nil, errkind.E(op, errkind.Other, err)
	}
	release()
	acc := &Account{keys: keys, db: db, nameFile: s.nameFile(id), info: Info{ID: crypto.Identity(id), DeviceID: keys.Device.Public().Identity()}}
	if acc.info.Name, err = acc.name(); err != nil {
		db.Close()
		return nil, errkind.E(op, errkind.Corrupt, err)
	}
	if _, err := os.Stat(acc.nameFile); errors.Is(err, os.ErrNotExist) && acc.info.Name != "" {
		// An account from before name files: List shows its name from now on.
		if err := datadir.WriteFileAtomic(acc.nameFile, []byte(acc.info.Name), 0o600); err != nil {
			s.log.Warn("writing the account's name file", "account", id, "err", err)
		}
	}
	if s.hook != nil {
		if acc.attached, err = s.hook(acc); err != nil {
			db.Close()
			return nil, errkind.E(op, errkind.Of(err), err)
		}
	}
	if err := datadir.WriteFileAtomic(s.layout.Selected(), []byte(id+"\n"), 0o600); err != nil {
		if acc.attached != nil { // the services the hook started stop with it
			if cerr := acc.attached.Close(); cerr != nil {
				s.log.Warn("stopping an account that could not be selected", "account", id, "err", cerr)
			}
		}
		db.Close()
		return nil, errkind.E(op, errkind.Other, err)
	}
	s.mu.Lock()
	s.current = acc
	s.mu.Unlock()
	s.log.Info("account selected", "account", id, "device", keys.Device.Public().Identity())
	return acc, nil
}

// stopLocked closes the current account. Caller holds opMu.
func (s *Service) stopLocked() error {
	s.mu.Lock()
	acc := s.current
	s.current = nil
	s.mu.Unlock()
	if acc == nil {
		return nil
	}
	var errs []error
	if acc.attached != nil {
		errs = append(errs, acc.attached.Close())
	}
	errs = append(errs, acc.db.Close())
	if err := errors.Join(errs...); err != nil {
		return errkind.E("account.stop", errkind.Other, err)
	}
	s.log.Info("account stopped", "account", acc.Info().ID)
	return nil
}

// keyName is the account database key of the account's display name.
var keyName = []byte("profile/name")

func (a *Account) name() (string, error) {
	var name string
	err := a.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyName)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { name = string(v); return nil })
	})
	return name, err
}

// setName stores the display name, in the account database and in the
// account's name file (which List reads without opening the database).
// Callers hold the Service's opMu.
func (a *Account) setName(name string) error {
	if err := a.db.Update(func(txn *badger.Txn) error { return txn.Set(keyName, []byte(name)) }); err != nil {
		return err
	}
	if err := datadir.WriteFileAtomic(a.nameFile, []byte(name), 0o600); err != nil {
		return err
	}
	a.mu.Lock()
	a.info.Name = name
	a.mu.Unlock()
	return nil
}
