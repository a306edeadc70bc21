// Command benchsummary reads `go test -json` output of benchmarks on stdin,
// passes the benchmarks' text through to stdout as it arrives, and prints at
// the end a table of every budgeted figure: the budget, the figure, the
// SQLite figure where there is one, and the ratio. `make bench` pipes
// through it. It exits non-zero when a test or package failed (a missed
// budget is shown in the table, not an error: figures on a shared machine
// are noisy).
//
// It owns only reading and reporting; it never runs benchmarks and never
// decides a budget: each benchmark states its own.
//
// # The convention
//
// A benchmark reports a budgeted figure with b.ReportMetric and a unit of
// the form MEASURE@KEY, where KEY names the budget (unique across the
// repository, lower-case words joined by '-') and MEASURE is the figure's
// unit (no whitespace):
//
//	b.ReportMetric(us, "us@index-sort-query")              // the figure
//	b.ReportMetric(80, "max:us@index-sort-query")          // its budget: at most 80
//	b.ReportMetric(perSec, "objects/s@index-bulk")
//	b.ReportMetric(30_000, "min:objects/s@index-bulk")     // at least 30,000
//
// The budget is reported by the same benchmark as the figure, as
// "max:"+unit (the figure must not exceed it) or "min:"+unit (the figure
// must reach it). A baseline is reported by its own benchmark (typically
// behind the sqlitebench build tag) as "sqlite:"+unit with the same KEY and
// MEASURE:
//
//	b.ReportMetric(us, "sqlite:us@index-sort-query")
//
// A figure with a baseline and no budget (a comparison) gets a row too.
// Units without '@' are ordinary metrics and are ignored here. With
// -count N a figure is the median of its runs. The ratio says how many
// times better Hearth is than SQLite (above 1: Hearth is better): SQLite's
// figure over Hearth's for measures where lower is better, the inverse for
// rates; the budget says which (max: lower is better, min: higher), and
// without a budget a MEASURE ending in "/s" is a rate.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	s := newSummary()
	failed, err := s.read(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(2)
	}
	s.print(os.Stdout)
	if failed {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// row is one budget key's figures.
type row struct {
	key       string
	measure   string
	figures   []float64
	baselines []float64
	bench     string // where the figure came from
	budget    float64
	bound     string // "max", "min" or "" (no budget)
}

type summary struct {
	rows    map[string]*row
	partial map[string]string // package+test -> output not yet ended by a newline
}

func newSummary() *summary {
	return &summary{rows: map[string]*row{}, partial: map[string]string{}}
}

// read consumes the JSON stream, echoing the benchmarks' text to out. It
// reports whether anything failed. Lines that are not JSON (a build error
// printed before the stream) are echoed as they are.
func (s *summary) read(in io.Reader, out io.Writer) (failed bool, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintln(out, string(line))
			continue
		}
		switch ev.Action {
		case "fail":
			failed = true
		case "output":
			s.output(ev, out)
		}
	}
	return failed, sc.Err()
}

// output handles one output event: whole lines only (test2json may split a
// line across events).
func (s *summary) output(ev event, out io.Writer) {
	k := ev.Package + "\x00" + ev.Test
	text := s.partial[k] + ev.Output
	lines := strings.SplitAfter(text, "\n")
	s.partial[k] = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "=== ") || ev.Test != "" && strings.TrimSpace(l) == ev.Test {
			continue // test2json's framing, not benchmark output
		}
		fmt.Fprint(out, l)
		s.parse(ev.Package, l)
	}
}

// parse takes the metrics of a benchmark result line:
// "BenchmarkName-P \t N \t value unit \t value unit ...".
func (s *summary) parse(pkg, line string) {
	if !strings.HasPrefix(line, "Benchmark") {
		return
	}
	fields := strings.Split(strings.TrimRight(line, "\n"), "\t")
	if len(fields) < 3 {
		return
	}
	name := strings.TrimSpace(fields[0])
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i] // the -GOMAXPROCS suffix
		}
	}
	if _, err := strconv.Atoi(strings.TrimSpace(fields[1])); err != nil {
		return
	}
	for _, f := range fields[2:] {
		parts := strings.Fields(f)
		if len(parts) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(parts[0], 64)
		if err != nil {
			continue
		}
		s.metric(shortPkg(pkg)+" "+name, parts[1], v)
	}
}

// metric files one value under its key, by the unit convention.
func (s *summary) metric(bench, unit string, v float64) {
	kind := ""
	if i := strings.IndexByte(unit, ':'); i > 0 {
		kind, unit = unit[:i], unit[i+1:]
	}
	at := strings.LastIndexByte(unit, '@')
	if at <= 0 || at == len(unit)-1 {
		return
	}
	measure, key := unit[:at], unit[at+1:]
	r := s.rows[key]
	if r == nil {
		r = &row{key: key, measure: measure}
		s.rows[key] = r
	}
	switch kind {
	case "":
		r.figures = append(r.figures, v)
		if r.bench == "" {
			r.bench = bench
		}
	case "max", "min":
		r.budget, r.bound = v, kind
	case "sqlite":
		r.baselines = append(r.baselines, v)
	}
}

func shortPkg(p string) string {
	return strings.TrimPrefix(p, "github.com/hearth-sync/hearth/")
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// higherIsBetter says which way the row's figure improves.
func (r *row) higherIsBetter() bool {
	switch r.bound {
	case "min":
		return true
	case "max":
		return false
	}
	return strings.HasSuffix(r.measure, "/s")
}

// cells renders the row: budget, figure, sqlite, ratio, verdict.
func (r *row) cells() (budget, figure, sqlite, ratio, verdict string) {
	budget, figure, sqlite, ratio, verdict = "-", "missing", "-", "-", "-"
	if r.bound == "max" {
		budget = "<= " + num(r.budget) + " " + r.measure
	} else if r.bound == "min" {
		budget = ">= " + num(r.budget) + " " + r.measure
	}
	if len(r.figures) == 0 {
		if r.bound != "" {
			verdict = "no figure"
		}
		return
	}
	f := median(r.figures)
	figure = num(f) + " " + r.measure
	if r.bound != "" {
		met := f <= r.budget
		if r.bound == "min" {
			met = f >= r.budget
		}
		verdict = "met"
		if !met {
			verdict = "MISSED"
		}
	}
	if len(r.baselines) > 0 {
		b := median(r.baselines)
		sqlite = num(b) + " " + r.measure
		switch {
		case f > 0 && b > 0 && r.higherIsBetter():
			ratio = fmt.Sprintf("%.2fx", f/b)
		case f > 0 && b > 0:
			ratio = fmt.Sprintf("%.2fx", b/f)
		}
	}
	return
}

// num prints a figure with three significant digits, without exponent
// notation for everyday sizes.
func num(v float64) string {
	switch a := max(v, -v); {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// print writes the table, budgets first (by key), then comparisons.
func (s *summary) print(out io.Writer) {
	var keys []string
	for k, r := range s.rows {
		if r.bound != "" || len(r.baselines) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		fmt.Fprintln(out, "\nbenchsummary: no budgeted figures (units MEASURE@KEY; see internal/benchsummary)")
		return
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := s.rows[keys[i]], s.rows[keys[j]]
		if (a.bound != "") != (b.bound != "") {
			return a.bound != ""
		}
		return a.key < b.key
	})
	fmt.Fprintln(out, "\nBudgets and baselines (median of runs; ratio = times better than SQLite, above 1 is better):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "key\tbudget\tfigure\tsqlite\tratio\tbudget met\tbenchmark")
	missed := 0
	for _, k := range keys {
		r := s.rows[k]
		budget, figure, sqlite, ratio, verdict := r.cells()
		if verdict == "MISSED" || verdict == "no figure" {
			missed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.key, budget, figure, sqlite, ratio, verdict, r.bench)
	}
	tw.Flush()
	if missed > 0 {
		fmt.Fprintf(out, "%d budget(s) missed or without a figure\n", missed)
	}
}
