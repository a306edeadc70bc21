package spaceindex

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// maxTokenLen caps a full-text token, in bytes; longer tokens are cut (on a
// rune boundary) both when indexing and when querying, so prefix matching
// stays consistent.
const maxTokenLen = 48

// folders pools the accent-folding transformer (a transform.Chain is not safe
// for concurrent use).
var folders = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// Fold returns s case- and accent-folded, as full-text search and Contains
// compare it: lower-cased, decomposed, combining marks removed, recomposed.
func Fold(s string) string {
	s = strings.ToLower(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		t := folders.Get().(transform.Transformer)
		t.Reset()
		if out, _, err := transform.String(t, s); err == nil {
			s = out
		}
		folders.Put(t)
	}
	return s
}

// Tokens splits s into folded full-text tokens: maximal runs of letters and
// digits, case- and accent-folded, each cut to maxTokenLen bytes. Duplicates
// are kept; order follows s.
func Tokens(s string) []string {
	return appendTokens(nil, s)
}

func appendTokens(dst []string, s string) []string {
	f := Fold(s)
	start := -1
	for i, r := range f {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			dst = append(dst, cutToken(f[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		dst = append(dst, cutToken(f[start:]))
	}
	return dst
}

func cutToken(t string) string {
	if len(t) <= maxTokenLen {
		return t
	}
	i := maxTokenLen
	for i > 0 && !utf8.RuneStart(t[i]) {
		i--
	}
	return t[:i]
}

// valueTokens appends the tokens of a full-text field: a string, or the
// strings of a list (nested lists included). Other kinds have no tokens.
func valueTokens(dst []string, v Value) []string {
	switch v.kind {
	case KindString:
		return appendTokens(dst, v.s)
	case KindList:
		for _, e := range v.list() {
			dst = valueTokens(dst, e)
		}
	}
	return dst
}
