package files

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileIDForms(t *testing.T) {
	hexID := BlobID([]byte("hello"))
	pub := PublicID(hexID)
	assert.Len(t, pub, 52)
	assert.Equal(t, strings.ToLower(pub), pub)
	for _, in := range []string{hexID, pub} {
		got, err := ParseID(in)
		require.NoError(t, err, in)
		assert.Equal(t, hexID, got, "both forms name the same blob")
	}
	for _, bad := range []string{"", "x", strings.ToUpper(pub), hexID[:63], pub + "a", strings.ToUpper(hexID)} {
		_, err := ParseID(bad)
		assert.Error(t, err, "%q", bad)
	}
	assert.Equal(t, "not-an-id", PublicID("not-an-id"), "what is not a blob id passes unchanged")
}

func FuzzParseID(f *testing.F) {
	f.Add(BlobID([]byte("a")))
	f.Add(PublicID(BlobID([]byte("a"))))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if CheckID(id) != nil {
			t.Fatalf("ParseID(%q) = %q, not a blob id", s, id)
		}
		if again, err := ParseID(PublicID(id)); err != nil || again != id {
			t.Fatalf("%q: the printable form does not round-trip: %q %v", s, again, err)
		}
	})
}
