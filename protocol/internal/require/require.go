package require

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	return " " + fmt.Sprint(args...)
}

// NoError fails now if err is not nil.
func NoError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v%s", err, msg(args))
	}
}

// Error fails now if err is nil.
func Error(t testing.TB, err error, args ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error%s", msg(args))
	}
}

// ErrorIs fails now unless errors.Is(err, target).
func ErrorIs(t testing.TB, err, target error, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v is not %v%s", err, target, msg(args))
	}
}

// ErrorContains fails now unless err's text contains s.
func ErrorContains(t testing.TB, err error, s string, args ...any) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), s) {
		t.Fatalf("error %v does not contain %q%s", err, s, msg(args))
	}
}

func equal(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		if bb, ok := b.([]byte); ok {
			return bytes.Equal(ab, bb)
		}
	}
	return reflect.DeepEqual(a, b)
}

// Equal fails now unless want and got are deeply equal.
func Equal(t testing.TB, want, got any, args ...any) {
	t.Helper()
	if !equal(want, got) {
		t.Fatalf("not equal%s:\nwant %#v\n got %#v", msg(args), want, got)
	}
}

// NotEqual fails now if a and b are deeply equal.
func NotEqual(t testing.TB, a, b any, args ...any) {
	t.Helper()
	if equal(a, b) {
		t.Fatalf("unexpectedly equal%s: %#v", msg(args), a)
	}
}

// True fails now unless v.
func True(t testing.TB, v bool, args ...any) {
	t.Helper()
	if !v {
		t.Fatalf("expected true%s", msg(args))
	}
}

// False fails now if v.
func False(t testing.TB, v bool, args ...any) {
	t.Helper()
	if v {
		t.Fatalf("expected false%s", msg(args))
	}
}

// Contains fails now unless s contains sub.
func Contains(t testing.TB, s, sub string, args ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q%s", s, sub, msg(args))
	}
}

// NotContains fails now if s contains sub.
func NotContains(t testing.TB, s, sub string, args ...any) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Fatalf("%q contains %q%s", s, sub, msg(args))
	}
}

// Len fails now unless v (slice, map or string) has length n.
func Len(t testing.TB, v any, n int, args ...any) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		t.Fatalf("length %d, want %d%s", l, n, msg(args))
	}
}
