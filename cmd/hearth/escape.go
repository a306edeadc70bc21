package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names reach human output from other people: a space's name in an invite
// link, a member's display name, a file's name. A name with terminal escape
// sequences (ESC [ …, OSC …, a C1 control) printed raw could rewrite the
// screen, retitle the window or hide text; bidirectional overrides could
// reorder what people read. Human output therefore prints every control
// character, bidi control and invalid byte as a visible escape (\x1b,
// \u202e, \xff). JSON output needs none of this: encoding/json escapes what
// a JSON reader must not see raw, and scripts get the exact text.

// escapeText makes s safe to print on a terminal, keeping tabs and newlines
// out as well (one value stays on one line).
func escapeText(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// escapeLine is escapeText for a whole line of text the CLI composed (error
// lines): the same rules, so nothing in it can act on the terminal.
func escapeLine(s string) string { return escapeText(s) }

// isPlain reports whether s needs no escaping (the common case).
func isPlain(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || unsafeRune(r) {
			return false
		}
	}
	return true
}

// unsafeRune reports the runes other than C0 controls that act on a
// terminal or on the reading order: C1 controls and the other Unicode
// controls, bidi controls, and the line/paragraph separators.
func unsafeRune(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || unicode.Is(unicode.Bidi_Control, r) || r == 0x2028 || r == 0x2029 ||
		(unicode.IsControl(r) && r >= 0x80)
}
