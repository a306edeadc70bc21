package tests

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The CLI contract lives in docs/cli.md. These helpers read it: each table
// row names one or more commands (`hearth space approve SPACE IDENTITY`)
// and, for the client commands, the shape of their --json output
// (`{"members": [{"identity", "name", "role", "status"}]}`); the "Words"
// table lists the words each enum field may take. contract_test.go holds
// the binary to it.

// shape is a documented JSON shape: an object's keys (nil value: any), an
// array's element shape, or a set of allowed literal words.
type shape struct {
	keys     map[string]*shape // object
	optional map[string]bool
	anyKeys  bool     // {...}: an object with keys not listed here
	elem     *shape   // array
	words    []string // "a"|"b"
}

// docCommand is one documented command.
type docCommand struct {
	words string // "space approve"
	shape *shape // nil: no JSON output documented
	row   string
}

// wordRule is a row of the Words table.
type wordRule struct {
	field    string
	contexts []string // array names or command words
	words    []string
}

type contractDoc struct {
	commands map[string]docCommand
	words    []wordRule
}

var backticked = regexp.MustCompile("`([^`]+)`")

func loadContract(t *testing.T) contractDoc {
	t.Helper()
	raw, err := os.ReadFile("../docs/cli.md")
	if err != nil {
		t.Fatalf("the contract docs/cli.md: %v", err)
	}
	doc := contractDoc{commands: map[string]docCommand{}}
	section := ""
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimPrefix(line, "## ")
			continue
		}
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := splitRow(line)
		if len(cells) < 2 {
			continue
		}
		switch section {
		case "Words":
			if strings.HasPrefix(cells[0], "`") && len(cells) >= 3 {
				r := wordRule{field: strings.Trim(cells[0], "` "), words: strings.Fields(strings.Trim(cells[2], "` "))}
				for _, c := range strings.Split(cells[1], ",") {
					r.contexts = append(r.contexts, strings.TrimSpace(c))
				}
				doc.words = append(doc.words, r)
			}
		case "Daemons", "Account", "Spaces", "Objects", "Events, files, maintenance", "Tools":
			var sh *shape
			if section != "Daemons" {
				for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
					if strings.HasPrefix(m[1], "{") {
						sh = parseShape(t, m[1])
						break
					}
				}
			}
			for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
				if w := commandOf(m[1]); w != "" {
					doc.commands[w] = docCommand{words: w, shape: sh, row: line}
				}
			}
		}
	}
	if len(doc.commands) < 30 || len(doc.words) < 8 {
		t.Fatalf("docs/cli.md: read only %d commands and %d word rules: has its format changed?", len(doc.commands), len(doc.words))
	}
	return doc
}

// splitRow splits a table row on the | that are not escaped (\|).
func splitRow(line string) []string {
	line = strings.TrimSpace(strings.Trim(strings.TrimSpace(line), "|"))
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// commandOf reads the command words of a usage line: "hearth space kick
// SPACE IDENTITY" → "space kick".
func commandOf(usage string) string {
	f := strings.Fields(usage)
	if len(f) < 2 || f[0] != "hearth" {
		return ""
	}
	var words []string
	for _, w := range f[1:] {
		if w == "" || strings.ContainsAny(w[:1], "-[{\"'") || strings.ToUpper(w) == w || strings.Contains(w, "|") {
			break
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// parseShape reads a documented shape such as
// {"spaces": [{"spaceId", "name"}], "total": N, "lastSynced"?}.
func parseShape(t *testing.T, text string) *shape {
	t.Helper()
	p := &shapeParser{s: text}
	sh, err := p.value()
	if err != nil {
		t.Fatalf("docs/cli.md: shape %s: %v", text, err)
	}
	return sh
}

type shapeParser struct {
	s string
	i int
}

func (p *shapeParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *shapeParser) peek() byte {
	p.skip()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *shapeParser) str() (string, error) {
	if p.peek() != '"' {
		return "", fmt.Errorf("want a string at %d", p.i)
	}
	end := strings.IndexByte(p.s[p.i+1:], '"')
	if end < 0 {
		return "", fmt.Errorf("unterminated string")
	}
	s := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return s, nil
}

func (p *shapeParser) value() (*shape, error) {
	switch p.peek() {
	case '{':
		p.i++
		sh := &shape{keys: map[string]*shape{}, optional: map[string]bool{}}
		for {
			switch p.peek() {
			case '}':
				p.i++
				return sh, nil
			case ',':
				p.i++
				continue
			case '.':
				p.i += 3 // {...}
				sh.anyKeys = true
				continue
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			if p.peek() == '?' {
				p.i++
				sh.optional[k] = true
			}
			var v *shape
			if p.peek() == ':' {
				p.i++
				if v, err = p.value(); err != nil {
					return nil, err
				}
			}
			sh.keys[k] = v
		}
	case '[':
		p.i++
		var elem *shape
		if p.peek() != ']' {
			var err error
			if elem, err = p.value(); err != nil {
				return nil, err
			}
		}
		if p.peek() != ']' {
			return nil, fmt.Errorf("want ] at %d", p.i)
		}
		p.i++
		return &shape{elem: elem}, nil
	case '"':
		var words []string
		for {
			w, err := p.str()
			if err != nil {
				return nil, err
			}
			words = append(words, w)
			if p.peek() != '|' {
				break
			}
			p.i++
		}
		if len(words) == 1 && (words[0] == "..." || strings.ToUpper(words[0]) == words[0]) {
			return nil, nil // a placeholder: any value
		}
		return &shape{words: words}, nil
	}
	// A bare word: N, true, ... — any value.
	for p.i < len(p.s) && !strings.ContainsRune(",}] ", rune(p.s[p.i])) {
		p.i++
	}
	return nil, nil
}

// checkShape compares a decoded JSON value with a documented shape and
// returns every difference, with its path.
func checkShape(path string, v any, sh *shape) []string {
	if sh == nil {
		return nil
	}
	var out []string
	switch {
	case sh.keys != nil:
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, v)}
		}
		for k, sub := range sh.keys {
			got, present := obj[k]
			if !present {
				if !sh.optional[k] {
					out = append(out, fmt.Sprintf("%s.%s: documented, not in the output", path, k))
				}
				continue
			}
			out = append(out, checkShape(path+"."+k, got, sub)...)
		}
		if !sh.anyKeys {
			var extra []string
			for k := range obj {
				if _, ok := sh.keys[k]; !ok {
					extra = append(extra, k)
				}
			}
			sort.Strings(extra)
			for _, k := range extra {
				out = append(out, fmt.Sprintf("%s.%s: in the output, not documented", path, k))
			}
		}
	case sh.elem != nil:
		arr, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %T", path, v)}
		}
		for i, e := range arr {
			out = append(out, checkShape(fmt.Sprintf("%s[%d]", path, i), e, sh.elem)...)
		}
	case sh.words != nil:
		s, _ := v.(string)
		if !contains(sh.words, s) {
			out = append(out, fmt.Sprintf("%s: %v is not one of %v", path, v, sh.words))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, w := range list {
		if w == s {
			return true
		}
	}
	return false
}
