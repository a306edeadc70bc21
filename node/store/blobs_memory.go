package store

import (
	"context"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// PutBlob implements Blobs.
func (m *Memory) PutBlob(ctx context.Context, id crypto.SpaceID, blob string, data []byte, lim Limits) error {
	if blob == "" {
		return errBlobID
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return err
	}
	if s.status.Code != syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK {
		return ErrNotLive
	}
	if _, ok := s.blobs[blob]; ok {
		return nil
	}
	size := int64(len(data))
	if err := checkQuota(QuotaSpaceBlobs, s.used, size, lim.SpaceBlobBytes); err != nil {
		return err
	}
	u := s.ownerOf()
	if err := s.checkOwner(QuotaBlobs, u.BlobBytes, size, lim.BlobBytes); err != nil {
		return err
	}
	if s.blobs == nil {
		s.blobs = map[string][]byte{}
	}
	s.blobs[blob] = clone(data)
	s.used += size
	u.BlobBytes += size
	return nil
}

// GetBlob implements Blobs.
func (m *Memory) GetBlob(ctx context.Context, id crypto.SpaceID, blob string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	b, ok := s.blobs[blob]
	if !ok {
		return nil, ErrNotFound
	}
	return clone(b), nil
}

// DeleteBlob implements Blobs.
func (m *Memory) DeleteBlob(ctx context.Context, id crypto.SpaceID, blob string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return err
	}
	b, ok := s.blobs[blob]
	if !ok {
		return ErrNotFound
	}
	delete(s.blobs, blob)
	s.used -= int64(len(b))
	s.ownerOf().BlobBytes -= int64(len(b))
	return nil
}

// BlobUsage implements Blobs.
func (m *Memory) BlobUsage(ctx context.Context, id crypto.SpaceID) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return 0, err
	}
	return s.used, nil
}
