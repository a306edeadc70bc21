package files

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// maxChunks bounds a manifest (100 GiB of 1 MiB chunks); a sealed remote
// manifest of that many chunks still fits in one node blob.
const maxChunks = 100_000

// Chunk is one chunk of a file: its plaintext id and size, and (in a remote
// manifest only) the id of its sealed copy on the node.
type Chunk struct {
	ID     string
	Size   int64
	Remote string
}

// Manifest is a file's ordered chunk list. Its encoding is a blob whose id
// is the fileId.
type Manifest struct {
	Chunks []Chunk
}

// Size is the file's size.
func (m Manifest) Size() int64 {
	var n int64
	for _, c := range m.Chunks {
		n += c.Size
	}
	return n
}

const (
	manifestMagic = "HFM1"
	remoteMagic   = "HFR1"
)

// encodeManifest: "HFM1" | uvarint n | n × (id 32 bytes | uvarint size).
func encodeManifest(m Manifest) []byte {
	b := append([]byte(manifestMagic), binary.AppendUvarint(nil, uint64(len(m.Chunks)))...)
	for _, c := range m.Chunks {
		b = appendID(b, c.ID)
		b = binary.AppendUvarint(b, uint64(c.Size))
	}
	return b
}

// decodeManifest parses a manifest blob, strictly (no trailing bytes).
func decodeManifest(b []byte) (Manifest, error) {
	r, err := newReader(b, manifestMagic)
	if err != nil {
		return Manifest{}, err
	}
	n, err := r.count()
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Chunks: make([]Chunk, 0, n)}
	for range n {
		var c Chunk
		if c.ID, err = r.id(); err != nil {
			return Manifest{}, err
		}
		if c.Size, err = r.size(); err != nil {
			return Manifest{}, err
		}
		m.Chunks = append(m.Chunks, c)
	}
	return m, r.end()
}

// encodeRemote is the plaintext of a remote manifest: "HFR1" | fileId 32 |
// uvarint n | n × (id 32 | uvarint size | remote id 32).
func encodeRemote(fileID string, m Manifest) []byte {
	b := appendID([]byte(remoteMagic), fileID)
	b = binary.AppendUvarint(b, uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = appendID(b, c.ID)
		b = binary.AppendUvarint(b, uint64(c.Size))
		b = appendID(b, c.Remote)
	}
	return b
}

// decodeRemote parses a remote manifest's plaintext and checks that its
// chunk list hashes to the fileId it names.
func decodeRemote(b []byte) (fileID string, m Manifest, err error) {
	r, err := newReader(b, remoteMagic)
	if err != nil {
		return "", Manifest{}, err
	}
	if fileID, err = r.id(); err != nil {
		return "", Manifest{}, err
	}
	n, err := r.count()
	if err != nil {
		return "", Manifest{}, err
	}
	m.Chunks = make([]Chunk, 0, n)
	for range n {
		var c Chunk
		if c.ID, err = r.id(); err != nil {
			return "", Manifest{}, err
		}
		if c.Size, err = r.size(); err != nil {
			return "", Manifest{}, err
		}
		if c.Remote, err = r.id(); err != nil {
			return "", Manifest{}, err
		}
		m.Chunks = append(m.Chunks, c)
	}
	if err := r.end(); err != nil {
		return "", Manifest{}, err
	}
	if got := BlobID(encodeManifest(m)); got != fileID {
		return "", Manifest{}, errkind.Errorf("files.manifest", errkind.Corrupt, "remote manifest of %s lists the chunks of %s", fileID, got)
	}
	return fileID, m, nil
}

func appendID(b []byte, id string) []byte {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 32 {
		panic(fmt.Sprintf("files: appendID of a bad id %q", trunc(id))) // ids are checked before encoding
	}
	return append(b, raw...)
}

// reader decodes the manifests' encodings; every failure is Corrupt.
type reader struct{ b []byte }

func newReader(b []byte, magic string) (*reader, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, corruptf("not a %s manifest", magic)
	}
	return &reader{b: b[len(magic):]}, nil
}

func corruptf(format string, args ...any) error {
	return errkind.Errorf("files.manifest", errkind.Corrupt, format, args...)
}

func (r *reader) id() (string, error) {
	if len(r.b) < 32 {
		return "", corruptf("truncated id")
	}
	id := hex.EncodeToString(r.b[:32])
	r.b = r.b[32:]
	return id, nil
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		return 0, corruptf("bad varint")
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) count() (int, error) {
	n, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if n > maxChunks {
		return 0, corruptf("%d chunks, limit %d", n, maxChunks)
	}
	return int(n), nil
}

func (r *reader) size() (int64, error) {
	v, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if v == 0 || v > ChunkSize {
		return 0, corruptf("chunk size %d out of range", v)
	}
	return int64(v), nil
}

func (r *reader) end() error {
	if len(r.b) != 0 {
		return corruptf("%d trailing bytes", len(r.b))
	}
	return nil
}
