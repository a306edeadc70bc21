package space

import (
	"bytes"
	"context"
	"errors"
	"strings"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/core/spacestore"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// This file is the space's side of files (core/files documents the model):
// a file object's reference, and the upload and delete queues, are written in
// the same store transaction as the change that creates or deletes it; the
// account's (blob, space) marker is written before that transaction and
// dropped after it.

// FileType is the object type of files.
const FileType = "file"

// The details of a file object (set once, at creation).
const (
	FileKeyID     = "fileId"
	FileKeyName   = "name"
	FileKeySize   = "size"
	FileKeyKey    = "keyId"
	FileKeyRemote = "remoteId"
)

// FileMarkers are the account's (blob, space) markers (core/files.Markers).
type FileMarkers interface {
	Mark(sp crypto.SpaceID, fileID string) error
	Unmark(sp crypto.SpaceID, fileID string) error
}

// FileSpec describes a file object to create.
type FileSpec struct {
	FileID   string
	Name     string
	Size     int64
	KeyID    crypto.KeyID
	RemoteID string
}

// CreateFile creates a file object. Its reference, the marker and the upload
// are recorded with it (see persist).
func (s *Space) CreateFile(ctx context.Context, f FileSpec) (crypto.ObjectID, error) {
	if err := files.CheckID(f.FileID); err != nil {
		return "", err
	}
	if err := files.CheckID(f.RemoteID); err != nil {
		return "", err
	}
	return s.createObject(ctx, FileType, Details{
		FileKeyID:     objtree.String(files.PublicID(f.FileID)),              // the printable form; fileRefOf reads both
		FileKeyName:   objtree.String(strings.ToValidUTF8(f.Name, "\uFFFD")), // a file name need not be UTF-8; a detail must
		FileKeySize:   objtree.Number(float64(f.Size)),
		FileKeyKey:    objtree.String(string(f.KeyID)),
		FileKeyRemote: objtree.String(files.PublicID(f.RemoteID)),
	})
}

// fileRefOf returns the reference a live file object holds.
func fileRefOf(obj *object) (fileID string, ref files.RefValue, ok bool) {
	if obj.typ != FileType || obj.deleted() {
		return "", ref, false
	}
	get := func(k string) string {
		v, ok := obj.state.Get(k)
		if !ok {
			return ""
		}
		return v.GetString_()
	}
	// Ids are printable (base32), or hex in file objects made before.
	fileID, err := files.ParseID(get(FileKeyID))
	remote, rerr := files.ParseID(get(FileKeyRemote))
	ref = files.RefValue{KeyID: crypto.KeyID(get(FileKeyKey)), RemoteID: remote}
	if err != nil || rerr != nil || ref.KeyID == "" || len(ref.KeyID) > 64 {
		return "", ref, false
	}
	return fileID, ref, true
}

// checkFileOps refuses local changes to a file object's file details: they
// are what every device fetches the file by.
func checkFileOps(obj *object, ops []*syncpb.Op) error {
	if obj.typ != FileType {
		return nil
	}
	for _, op := range ops {
		key := op.GetSet().GetKey() + op.GetUnset().GetKey()
		if l := op.GetListAdd(); l != nil {
			key = l.Key
		}
		if l := op.GetListRemove(); l != nil {
			key = l.Key
		}
		switch key {
		case FileKeyID, FileKeyKey, FileKeyRemote, FileKeySize:
			return errkind.Errorf("object.set", errkind.Invalid, "detail %q of a file cannot change", key)
		}
	}
	return nil
}

// fileEffects is what a change of a file object does to file bookkeeping.
type fileEffects struct {
	writes []spacestore.Write
	mark   string // marked before the transaction
	unmark string // unmarked after it
}

// fileEffects computes the reference changes of obj's new state. local is
// true for this device's own changes: only those queue uploads and remote
// deletes. Actor only.
func (s *Space) fileEffects(obj *object, local bool) (fileEffects, error) {
	var fx fileEffects
	if obj.typ != FileType {
		return fx, nil
	}
	id := string(obj.tree.ID())
	old, err := s.store.FileOfObject(id)
	if err != nil {
		return fx, err
	}
	newID, ref, live := fileRefOf(obj)
	if old != "" && live && old == newID {
		cur, err := s.store.FileGet(spacestore.FileRefKey(old, id))
		if err == nil && bytes.Equal(cur, files.EncodeRef(ref)) {
			return fx, nil // unchanged
		}
	}
	if old != "" {
		if err := s.dropFileRef(&fx, old, id, local); err != nil {
			return fx, err
		}
	}
	if live {
		if err := s.addFileRef(&fx, newID, id, ref, local); err != nil {
			return fx, err
		}
	}
	return fx, nil
}

// otherRefs returns the other objects' references to fileID.
func (s *Space) otherRefs(fileID, object string) ([]files.RefValue, error) {
	entries, err := s.store.FileRefs(fileID)
	if err != nil {
		return nil, err
	}
	var out []files.RefValue
	for _, e := range entries {
		if e.Second == object {
			continue
		}
		v, err := files.DecodeRef(e.Value)
		if err != nil {
			return nil, errkind.E("files", errkind.Corrupt, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func sameUnit(refs []files.RefValue, key crypto.KeyID) bool {
	for _, r := range refs {
		if r.KeyID == key {
			return true
		}
	}
	return false
}

func (s *Space) dropFileRef(fx *fileEffects, fileID, object string, local bool) error {
	raw, err := s.store.FileGet(spacestore.FileRefKey(fileID, object))
	if err != nil && !errors.Is(err, spacestore.ErrNotFound) {
		return err
	}
	fx.writes = append(fx.writes,
		spacestore.Write{Key: spacestore.FileRefKey(fileID, object), Delete: true},
		spacestore.Write{Key: spacestore.FileOfObjectKey(object), Delete: true})
	others, err := s.otherRefs(fileID, object)
	if err != nil {
		return err
	}
	if len(others) == 0 {
		fx.unmark = fileID
	}
	if raw == nil {
		return nil
	}
	old, err := files.DecodeRef(raw)
	if err != nil {
		return errkind.E("files", errkind.Corrupt, err)
	}
	if sameUnit(others, old.KeyID) {
		return nil // the space still uses this remote copy
	}
	key := string(old.KeyID)
	fx.writes = append(fx.writes, spacestore.Write{Key: spacestore.FileUploadKey(fileID, key), Delete: true})
	if local {
		fx.writes = append(fx.writes, spacestore.Write{Key: spacestore.FileDeleteKey(fileID, key), Value: files.EncodeDelete(files.DeleteEntry{RemoteID: old.RemoteID, QueuedAt: s.now()})})
	}
	return nil
}

func (s *Space) addFileRef(fx *fileEffects, fileID, object string, ref files.RefValue, local bool) error {
	fx.mark = fileID
	fx.writes = append(fx.writes,
		spacestore.Write{Key: spacestore.FileRefKey(fileID, object), Value: files.EncodeRef(ref)},
		spacestore.Write{Key: spacestore.FileOfObjectKey(object), Value: []byte(fileID)})
	others, err := s.otherRefs(fileID, object)
	if err != nil {
		return err
	}
	if sameUnit(others, ref.KeyID) {
		return nil // already uploaded or queued
	}
	key := string(ref.KeyID)
	// A delete of this remote copy queued earlier must not run now.
	fx.writes = append(fx.writes, spacestore.Write{Key: spacestore.FileDeleteKey(fileID, key), Delete: true})
	if local {
		fx.writes = append(fx.writes, spacestore.Write{Key: spacestore.FileUploadKey(fileID, key), Value: files.EncodeUpload(files.UploadEntry{RemoteID: ref.RemoteID})})
	}
	return nil
}

// writeFileChanges is persist's and persistRemote's store write: the marker
// first, then the changes with the file bookkeeping and more in one
// transaction, then the unmark; newlyPending as spacestore.WriteChanges.
// Actor only.
func (s *Space) writeFileChanges(obj *object, ids []string, raws [][]byte, meta spacestore.Meta, local bool, more ...spacestore.Write) (newlyPending bool, err error) {
	fx, err := s.fileEffects(obj, local)
	if err != nil {
		return false, err
	}
	if fx.mark != "" {
		if s.files == nil {
			return false, errkind.Errorf("files", errkind.Precondition, "space %s has no file markers", s.id)
		}
		if err := s.files.Mark(s.id, fx.mark); err != nil {
			return false, err
		}
	}
	if newlyPending, err = s.store.WriteChanges(string(obj.tree.ID()), ids, raws, meta, local, append(fx.writes, more...)...); err != nil {
		return false, err
	}
	if fx.unmark != "" && fx.unmark != fx.mark && s.files != nil {
		// Only once the store's write is durable (the actor's group sync):
		// a crash before it must find the marker still there.
		unmark := fx.unmark
		s.afterSync = append(s.afterSync, func() {
			if err := s.files.Unmark(s.id, unmark); err != nil {
				// An extra marker is a leak repair fixes, never a lost file.
				s.log.Warn("could not drop a file marker", "space", s.id, "file", unmark, "err", err)
			}
		})
	}
	return newlyPending, nil
}

// FileRef returns the reference of a live file object of this space to fileID.
func (s *Space) FileRef(ctx context.Context, fileID string) (files.RefValue, error) {
	entries, err := s.store.FileRefs(fileID)
	if err != nil {
		return files.RefValue{}, err
	}
	if len(entries) == 0 {
		return files.RefValue{}, errkind.Errorf("files", errkind.NotFound, "no file %s in space %s", fileID, s.id)
	}
	v, err := files.DecodeRef(entries[0].Value)
	if err != nil {
		return files.RefValue{}, errkind.E("files", errkind.Corrupt, err)
	}
	return v, nil
}

// FileIDs returns the fileIds this space's objects reference.
func (s *Space) fileIDs() ([]string, error) {
	entries, err := s.store.FileRefs("")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if len(out) == 0 || out[len(out)-1] != e.FileID {
			out = append(out, e.FileID)
		}
	}
	return out, nil
}

// FileKey returns the read key with id (files.Queue).
func (s *Space) FileKey(ctx context.Context, id crypto.KeyID) (crypto.SymKey, error) {
	var k crypto.SymKey
	err := s.do(ctx, func() error {
		var ok bool
		if k, ok = s.keys[id]; !ok {
			return errkind.Errorf("files", errkind.Permission, "this device does not hold read key %s of space %s", id, s.id)
		}
		return nil
	})
	return k, err
}

// FileQueue lists the queued uploads and remote deletes (files.Queue).
func (s *Space) FileQueue(ctx context.Context) ([]files.QueuedUpload, []files.QueuedDelete, error) {
	ups, err := s.store.FileUploads()
	if err != nil {
		return nil, nil, err
	}
	dels, err := s.store.FileDeletes()
	if err != nil {
		return nil, nil, err
	}
	outU := make([]files.QueuedUpload, 0, len(ups))
	for _, e := range ups {
		v, err := files.DecodeUpload(e.Value)
		if err != nil {
			return nil, nil, errkind.E("files", errkind.Corrupt, err)
		}
		outU = append(outU, files.QueuedUpload{Unit: files.Unit{FileID: e.FileID, KeyID: crypto.KeyID(e.Second)}, UploadEntry: v})
	}
	outD := make([]files.QueuedDelete, 0, len(dels))
	for _, e := range dels {
		v, err := files.DecodeDelete(e.Value)
		if err != nil {
			return nil, nil, errkind.E("files", errkind.Corrupt, err)
		}
		outD = append(outD, files.QueuedDelete{Unit: files.Unit{FileID: e.FileID, KeyID: crypto.KeyID(e.Second)}, DeleteEntry: v})
	}
	return outU, outD, nil
}

// FileUploadProgress records upload progress; NotFound when the entry is
// gone (the file was deleted meanwhile) (files.Queue).
func (s *Space) FileUploadProgress(ctx context.Context, u files.Unit, done int) error {
	return s.do(ctx, func() error {
		key := spacestore.FileUploadKey(u.FileID, string(u.KeyID))
		raw, err := s.store.FileGet(key)
		if errors.Is(err, spacestore.ErrNotFound) {
			return errkind.Errorf("files.upload", errkind.NotFound, "the upload of %s was cancelled", u.FileID)
		}
		if err != nil {
			return err
		}
		e, err := files.DecodeUpload(raw)
		if err != nil {
			return errkind.E("files", errkind.Corrupt, err)
		}
		e.Done = max(e.Done, done)
		return s.store.FileWrite(spacestore.Write{Key: key, Value: files.EncodeUpload(e)})
	})
}

// FileUploaded removes a finished upload (files.Queue).
func (s *Space) FileUploaded(ctx context.Context, u files.Unit) error {
	return s.do(ctx, func() error {
		return s.store.FileWrite(spacestore.Write{Key: spacestore.FileUploadKey(u.FileID, string(u.KeyID)), Delete: true})
	})
}

// FileDeleted removes a sent remote delete (files.Queue).
func (s *Space) FileDeleted(ctx context.Context, u files.Unit) error {
	return s.do(ctx, func() error {
		return s.store.FileWrite(spacestore.Write{Key: spacestore.FileDeleteKey(u.FileID, string(u.KeyID)), Delete: true})
	})
}

var _ files.Queue = (*Space)(nil)

// RepairFileMarkers runs fn with the fileIds a known space with local data
// references, while none of its references can change: on the actor of a
// loaded space, or with the space held from loading. A space that is not on
// this device (offloaded, joining) references nothing.
func (s *Service) RepairFileMarkers(ctx context.Context, id crypto.SpaceID, fn func(fileIDs []string) error) error {
	in, err := s.Info(id)
	if err != nil {
		return err
	}
	if in.LocalStatus == LocalMissing {
		return fn(nil)
	}
	for {
		s.mu.Lock()
		if sp := s.loaded[id]; sp != nil {
			s.mu.Unlock()
			return sp.do(ctx, func() error {
				ids, err := sp.fileIDs()
				if err != nil {
					return err
				}
				return fn(ids)
			})
		}
		if s.offloading[id] || s.closed {
			s.mu.Unlock()
			return errkind.Errorf("files.repair", errkind.Busy, "space %s is being offloaded", id)
		}
		if wait := s.loading[id]; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Hold the space as if loading, so no load opens its store meanwhile.
		done := make(chan struct{})
		s.loading[id] = done
		s.mu.Unlock()
		err := s.withStore(in, fn)
		s.mu.Lock()
		delete(s.loading, id)
		close(done)
		s.mu.Unlock()
		return err
	}
}

func (s *Service) withStore(in Info, fn func([]string) error) error {
	store, err := spacestore.OpenOn(s.cfg.Disk, s.storeDir(in), s.cfg.Log)
	if err != nil {
		return err
	}
	sp := &Space{id: in.ID, store: store}
	ids, err := sp.fileIDs()
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return fn(ids)
}

// Known lists every space the account knows, the account space included
// (files.RepairSpaces).
func (s *Service) Known() ([]crypto.SpaceID, error) {
	infos, err := listInfos(s.cfg.DB)
	if err != nil {
		return nil, err
	}
	out := make([]crypto.SpaceID, len(infos))
	for i, in := range infos {
		out[i] = in.ID
	}
	return out, nil
}

var _ files.RepairSpaces = (*Service)(nil)
