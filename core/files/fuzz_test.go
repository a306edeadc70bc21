package files

import (
	"bytes"
	"testing"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

func FuzzDecodeManifest(f *testing.F) {
	f.Add(encodeManifest(Manifest{Chunks: []Chunk{{ID: BlobID([]byte("a")), Size: 3}}}))
	f.Add([]byte("HFM1\xff\xff\xff\xff\x0f"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeManifest(m), b) {
			t.Fatal("a decoded manifest re-encodes differently")
		}
	})
}

func FuzzDecodeRemote(f *testing.F) {
	m := Manifest{Chunks: []Chunk{{ID: BlobID([]byte("a")), Size: 3, Remote: BlobID([]byte("b"))}}}
	f.Add(encodeRemote(BlobID(encodeManifest(m)), m))
	f.Add([]byte("HFR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fileID, m, err := decodeRemote(b)
		if err != nil {
			return
		}
		if BlobID(encodeManifest(m)) != fileID || !bytes.Equal(encodeRemote(fileID, m), b) {
			t.Fatal("a decoded remote manifest does not match its file id or encoding")
		}
	})
}

func FuzzOpenSealed(f *testing.F) {
	k, _ := crypto.UnmarshalSymKey(bytes.Repeat([]byte{7}, 32))
	s, _ := NewSealer(k)
	file := BlobID([]byte("f"))
	f.Add(s.Seal(file, []byte("chunk")))
	f.Add([]byte("HFS1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := s.Open(file, b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Seal(file, plain), b) {
			t.Fatal("an opened blob does not re-seal to itself")
		}
	})
}

func FuzzDecodeEntries(f *testing.F) {
	id := BlobID([]byte("x"))
	f.Add(EncodeRef(RefValue{KeyID: "key", RemoteID: id}))
	f.Add(EncodeUpload(UploadEntry{RemoteID: id, Done: 3}))
	f.Add(EncodeDelete(DeleteEntry{RemoteID: id}))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := DecodeRef(b); err == nil && !bytes.Equal(EncodeRef(v), b) {
			t.Fatal("ref round trip")
		}
		if v, err := DecodeUpload(b); err == nil && !bytes.Equal(EncodeUpload(v), b) {
			t.Fatal("upload round trip")
		}
		if v, err := DecodeDelete(b); err == nil && !bytes.Equal(EncodeDelete(v), b) {
			t.Fatal("delete round trip")
		}
	})
}

func FuzzParseMarkerKey(f *testing.F) {
	id := BlobID([]byte("x"))
	f.Add(markerKey(id, "space"))
	f.Add(reverseKey("space", id))
	f.Add([]byte("blobspace//"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fileID, sp, err := parseMarkerKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(markerKey(fileID, sp), b) && !bytes.Equal(reverseKey(sp, fileID), b) {
			t.Fatal("a parsed marker key does not rebuild")
		}
	})
}
