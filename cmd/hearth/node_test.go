package main

import (
	"encoding/base64"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestParseStoreSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want storeSpec
		err  string
	}{
		{"", storeSpec{}, ""},
		{"/srv/db", storeSpec{badgerDir: "/srv/db"}, ""},
		{"badger:/srv/db", storeSpec{badgerDir: "/srv/db"}, ""},
		{"badger:", storeSpec{}, "needs a path"},
		{"postgres://u@h/db", storeSpec{pgURL: "postgres://u@h/db"}, ""},
		{"postgresql://u:pw@h:5433/db?sslmode=disable", storeSpec{pgURL: "postgresql://u:pw@h:5433/db?sslmode=disable"}, ""},
		{"mysql://u:secret@h/db", storeSpec{}, "unknown scheme"},
	} {
		got, err := parseStoreSpec(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			require.NotContains(t, err.Error(), "secret", "user info is never echoed")
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestLoadNodeKey(t *testing.T) {
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	seed := k.Marshal()
	for name, v := range map[string]string{
		"hex":        hex.EncodeToString(seed),
		"base64":     base64.StdEncoding.EncodeToString(seed),
		"base64 raw": base64.RawURLEncoding.EncodeToString(seed),
		"spaces":     " " + hex.EncodeToString(seed) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(nodeKeyEnv, v)
			got, err := loadNodeKey(t.TempDir(), nodeSetup{})
			require.NoError(t, err)
			require.Equal(t, k.Public(), got.Public())
		})
	}
	t.Run("bad", func(t *testing.T) {
		t.Setenv(nodeKeyEnv, "abcd")
		_, err := loadNodeKey(t.TempDir(), nodeSetup{})
		require.ErrorContains(t, err, "hex or base64")
		require.NotContains(t, err.Error(), "abcd", "the value is never echoed")
	})
	t.Run("file", func(t *testing.T) {
		t.Setenv(nodeKeyEnv, "")
		path := filepath.Join(t.TempDir(), "k")
		a, err := loadNodeKey("", nodeSetup{keyFile: path})
		require.NoError(t, err)
		b, err := loadNodeKey("", nodeSetup{keyFile: path})
		require.NoError(t, err)
		require.Equal(t, a.Public(), b.Public(), "created once, then read")
	})
}

// FuzzNodeInputs: the --store and $HEARTH_NODE_KEY decoders take any string without
// panicking and never echo user info.
func FuzzNodeInputs(f *testing.F) {
	f.Add("postgres://u:secret@h/db")
	f.Add("badger:/x")
	f.Add("x://a:secret@b")
	f.Add(strings.Repeat("ab", 32))
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseStoreSpec(s); err != nil && strings.Contains(s, "secret@") && strings.Contains(err.Error(), "secret@") {
			t.Fatalf("echoed user info: %v", err)
		}
		t.Setenv(nodeKeyEnv, s)
		_, _ = loadNodeKey(t.TempDir(), nodeSetup{})
	})
}
