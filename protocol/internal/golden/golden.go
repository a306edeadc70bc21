package golden

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

var update = flag.Bool("update", false, "rewrite golden vectors under testdata/")

// Reader returns a deterministic byte stream derived from seed (blake3 XOF).
// Golden vectors and deterministic test keys only; never for real keys or nonces.
func Reader(seed string) *blake3.Digest {
	h := blake3.New()
	_, _ = h.Write([]byte("hearth/test-rand/v1\x00" + seed))
	return h.Digest()
}

// Check compares vectors with testdata/<name>.golden (one "key hex" line each, sorted).
// With -update it rewrites the file instead.
func Check(t testing.TB, name string, vectors map[string][]byte) {
	t.Helper()
	keys := make([]string, 0, len(vectors))
	for k := range vectors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "# golden vectors: name hex. Regenerate with go test -run Golden -update after review.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s\n", k, hex.EncodeToString(vectors[k]))
	}
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	wantLines := map[string]string{}
	for _, l := range strings.Split(string(want), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		wantLines[k] = v
	}
	for _, k := range keys {
		got := hex.EncodeToString(vectors[k])
		if wantLines[k] != got {
			t.Errorf("golden %s/%s changed:\n got %s\nwant %s", name, k, got, wantLines[k])
		}
	}
	if len(wantLines) != len(keys) {
		t.Errorf("golden %s: %d vectors in file, %d produced", name, len(wantLines), len(keys))
	}
}

// XOF is a deterministic reader (see Reader).
type XOF = blake3.Digest

// NewXOF is Reader under another name, for helpers that store the reader's type.
func NewXOF(seed string) *XOF { return Reader(seed) }

// Load reads testdata/<name>.golden, so tests can check that the pinned bytes still
// decode and verify (old data stays readable).
func Load(t testing.TB, name string) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	out := map[string][]byte{}
	for _, l := range strings.Split(string(raw), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		b, err := hex.DecodeString(v)
		if err != nil {
			t.Fatalf("golden %s/%s: %v", name, k, err)
		}
		out[k] = b
	}
	return out
}
