package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// stream renders test2json events, one per line.
func stream(t *testing.T, evs ...event) string {
	var b strings.Builder
	for _, ev := range evs {
		j, err := json.Marshal(ev)
		require.NoError(t, err)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func out(pkg, test, text string) event {
	return event{Action: "output", Package: pkg, Test: test, Output: text}
}

const pkg = "github.com/hearth-sync/hearth/spaceindex"

func TestSummaryTable(t *testing.T) {
	in := stream(t,
		out(pkg, "", "goos: linux\n"),
		out(pkg, "BenchmarkSort", "=== RUN   BenchmarkSort\n"),
		out(pkg, "BenchmarkSort", "BenchmarkSort\n"),
		// A result line split across events, then a second run (-count 2).
		out(pkg, "BenchmarkSort", "BenchmarkSort-2   \t   100\t  70.0 us@sort\t"),
		out(pkg, "BenchmarkSort", "  80.00 max:us@sort\t 623 allocs/op\n"),
		out(pkg, "BenchmarkSort", "BenchmarkSort-2   \t   100\t  90.0 us@sort\t  80.00 max:us@sort\n"),
		out(pkg, "BenchmarkSQLiteSort/page", "BenchmarkSQLiteSort/page-2 \t 50\t 160.0 sqlite:us@sort\n"),
		out(pkg, "BenchmarkBulk", "BenchmarkBulk-2 \t 1\t 20000 objects/s@bulk\t 30000 min:objects/s@bulk\n"),
		out(pkg, "BenchmarkSQLiteBulk", "BenchmarkSQLiteBulk-2 \t 1\t 10000 sqlite:objects/s@bulk\n"),
		out(pkg, "BenchmarkTwoTerm", "BenchmarkTwoTerm-2 \t 1000\t 150 us@two-term\n"),
		out(pkg, "BenchmarkSQLiteTwoTerm", "BenchmarkSQLiteTwoTerm-2 \t 1000\t 300 sqlite:us@two-term\n"),
		out(pkg, "BenchmarkPlain", "BenchmarkPlain-2 \t 1000\t 12 ns/op\t 3 other@nobudget\n"),
		out(pkg, "", "PASS\n"),
		event{Action: "pass", Package: pkg},
	)
	s := newSummary()
	var echo bytes.Buffer
	failed, err := s.read(strings.NewReader(in), &echo)
	require.NoError(t, err)
	require.False(t, failed)
	require.Contains(t, echo.String(), "goos: linux\n")
	require.NotContains(t, echo.String(), "=== RUN", "test2json framing is dropped")
	require.Contains(t, echo.String(), "BenchmarkSort-2   \t   100\t  70.0 us@sort\t  80.00 max:us@sort\t 623 allocs/op\n", "a split line is joined")

	var table bytes.Buffer
	s.print(&table)
	got := table.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	require.Len(t, lines, 6, got) // heading, header, 3 rows, missed count
	require.Regexp(t, `^bulk +>= 30000 objects/s +20000 objects/s +10000 objects/s +2.00x +MISSED +spaceindex BenchmarkBulk$`, lines[2])
	// The median of 70 and 90 is 80: within the budget; SQLite 160 is 2x slower.
	require.Regexp(t, `^sort +<= 80.00 us +80.00 us +160.0 us +2.00x +met +spaceindex BenchmarkSort$`, lines[3])
	require.Regexp(t, `^two-term +- +150.0 us +300.0 us +2.00x +- +spaceindex BenchmarkTwoTerm$`, lines[4], "a comparison without a budget")
	require.Equal(t, "1 budget(s) missed or without a figure", lines[5])
	require.NotContains(t, got, "nobudget", "a figure without budget or baseline is not a row")
}

func TestSummaryFailuresAndMissingFigures(t *testing.T) {
	in := stream(t,
		out(pkg, "BenchmarkSQLiteOnly", "BenchmarkSQLiteOnly-2 \t 1\t 5 sqlite:ms@lonely\n"),
		event{Action: "fail", Package: pkg, Test: "BenchmarkBroken"},
		event{Action: "fail", Package: pkg},
	)
	s := newSummary()
	failed, err := s.read(strings.NewReader("# a build error line\n"+in), &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, failed)
	var table bytes.Buffer
	s.print(&table)
	require.Contains(t, table.String(), "lonely")
	require.Contains(t, table.String(), "missing")
}

// FuzzSummary: whatever the stream holds, reading and printing it never
// panics.
func FuzzSummary(f *testing.F) {
	f.Add([]byte(`{"Action":"output","Package":"p","Test":"BenchmarkX","Output":"BenchmarkX-2 \t 1\t 5 us@k\t 9 max:us@k\n"}` + "\n"))
	f.Add([]byte("not json\n{\"Action\":\"fail\"}\n"))
	f.Add([]byte(`{"Action":"output","Output":"Benchmark-\t1\t@ @\tx sqlite:@\n"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := newSummary()
		if _, err := s.read(bytes.NewReader(in), io.Discard); err != nil {
			return
		}
		s.print(io.Discard)
	})
}
