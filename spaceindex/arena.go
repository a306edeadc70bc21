package spaceindex

import "unsafe"

// arenaBlock is the size of a block of a query's arena.
const arenaBlock = 4096

// arena holds the ids, strings and heads hashes one query decodes: one
// allocation per block instead of one per string. A block is never written
// again where a string points into it, which makes the strings as immutable
// as any other. A nil *arena allocates each copy on its own.
type arena struct {
	buf    []byte
	blocks int // blocks allocated so far
}

// room makes room for n bytes in the current block.
func (a *arena) room(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(arenaBlock, n))
		a.blocks++
	}
}

// str returns b as a string, copied into the arena (long strings get their
// own copy).
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if a == nil || len(b) > arenaBlock/4 {
		return string(b)
	}
	a.room(len(b))
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[n], len(b))
}

// bytes returns a copy of b in the arena, capped so that appending to it
// never writes into the arena.
func (a *arena) bytes(b []byte) []byte {
	if a == nil {
		return append([]byte(nil), b...)
	}
	a.room(len(b))
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n : n+len(b) : n+len(b)]
}

// sparse reports whether the arena spread over more blocks than recs need:
// the query decoded many candidates it did not keep, and the kept records'
// strings lie scattered among theirs.
func (a *arena) sparse(recs []Record) bool {
	return a.blocks > 1+len(recs)/32
}

// rehome copies the ids, strings and heads hashes of recs into one buffer
// of their own, so that a result held for long (a subscription's window)
// keeps only its own bytes alive and not every arena block its strings were
// scattered over.
func rehome(recs []Record) {
	var size int
	for i := range recs {
		r := &recs[i]
		size += len(r.ID) + len(r.HeadsHash)
		for _, v := range r.Details {
			size += valueBytes(v)
		}
	}
	if size == 0 {
		return
	}
	a := &arena{buf: make([]byte, 0, size), blocks: 1}
	for i := range recs {
		r := &recs[i]
		r.ID = a.str(strBytes(r.ID))
		if r.HeadsHash != nil {
			r.HeadsHash = a.bytes(r.HeadsHash)
		}
		for k, v := range r.Details {
			if valueBytes(v) > 0 {
				r.Details[k] = a.value(v)
			}
		}
	}
}

// valueBytes is the size of the strings v holds.
func valueBytes(v Value) int {
	switch v.kind {
	case KindString:
		return len(v.s)
	case KindList:
		n := 0
		for _, e := range v.list() {
			n += valueBytes(e)
		}
		return n
	}
	return 0
}

// value returns v with its strings copied into the arena.
func (a *arena) value(v Value) Value {
	switch v.kind {
	case KindString:
		v.s = a.str(strBytes(v.s))
	case KindList:
		l := v.list()
		out := make([]Value, len(l))
		for i, e := range l {
			out[i] = a.value(e)
		}
		return List(out...)
	}
	return v
}

// strBytes returns the bytes of s without a copy, to be read only.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
