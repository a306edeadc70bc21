package diff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/zeebo/blake3"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("diff: invalid range message")

// Defaults of the driver.
const (
	DefaultFanout       = 16 // a differing range splits into this many sub-ranges
	DefaultElementLimit = 16 // a range holding at most this many elements is answered with them
)

// Element is one object's summary.
type Element struct {
	ID        string
	HeadsHash string
}

// Pos is an id's position in the diff space: the first 8 bytes (big endian) of blake3(id).
// Positions are uniform whatever the ids look like, so ranges split evenly.
func Pos(id string) uint64 {
	h := blake3.Sum256([]byte(id))
	return binary.BigEndian.Uint64(h[:8])
}

type entry struct {
	pos  uint64
	el   Element
	hash [32]byte // blake3 of the element, XOR-ed into range hashes
}

func cmpEntry(a, b entry) int {
	switch {
	case a.pos < b.pos:
		return -1
	case a.pos > b.pos:
		return 1
	}
	return strings.Compare(a.el.ID, b.el.ID)
}

func elementHash(e Element) [32]byte {
	h := blake3.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(e.ID)))
	_, _ = h.Write(n[:])
	_, _ = h.Write([]byte(e.ID))
	_, _ = h.Write([]byte(e.HeadsHash))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Set is a sorted set of element summaries with O(log n) range hashes (prefix XOR).
// Put and Remove are O(1): they are recorded and merged into the sorted entries, in one
// pass, by the next read, so a set kept up to date as changes are accepted costs one
// merge per head sync, not one sorted insert per change. It is a thread-unsafe value
// owned by its caller.
type Set struct {
	entries []entry            // sorted by (pos, id)
	prefix  [][32]byte         // prefix[i] = XOR of entries[:i]; nil when stale
	dirty   map[string]pending // Puts and Removes waiting for the next read, by id
}

// pending is a recorded Put (en) or Remove.
type pending struct {
	en     entry
	remove bool
}

// NewSet builds a set in O(n log n); a later element with the same id replaces an
// earlier one.
func NewSet(els []Element) *Set {
	s := &Set{entries: make([]entry, len(els))}
	for i, e := range els {
		s.entries[i] = entry{pos: Pos(e.ID), el: e, hash: elementHash(e)}
	}
	slices.SortStableFunc(s.entries, cmpEntry)
	// Keep the last of each run of equal ids (the stable sort kept their order).
	out := s.entries[:0]
	for i, en := range s.entries {
		if i+1 < len(s.entries) && s.entries[i+1].el.ID == en.el.ID {
			continue
		}
		out = append(out, en)
	}
	clear(s.entries[len(out):])
	s.entries = out
	return s
}

// Digest is a set's whole-range summary: its element count and the XOR of its element
// hashes. Its owner keeps it up to date in O(1) per change (Add the new element, Remove
// the one it replaces), so a head sync whose first answer matches it needs no set at all:
// two idle peers agree in one round trip without reading their stores.
type Digest struct {
	Count uint64
	Hash  [32]byte
}

// Add counts e in the digest.
func (d *Digest) Add(e Element) {
	h := elementHash(e)
	xor(&d.Hash, &h)
	d.Count++
}

// Remove takes e, which the digest counted, out of it.
func (d *Digest) Remove(e Element) {
	h := elementHash(e)
	xor(&d.Hash, &h)
	d.Count--
}

// Matches reports whether a peer's answer for the whole position space equals d.
func (d Digest) Matches(r RangeResult) bool {
	return r.From == 0 && r.To == math.MaxUint64 && uint64(r.Count) == d.Count && r.Hash == d.Hash
}

func xor(dst, src *[32]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// Digest returns the set's whole-range digest.
func (s *Set) Digest() Digest {
	p := s.prefixes()
	return Digest{Count: uint64(len(s.entries)), Hash: p[len(s.entries)]}
}

// Len returns the number of elements.
func (s *Set) Len() int {
	s.flush()
	return len(s.entries)
}

func (s *Set) find(id string, pos uint64) (int, bool) {
	return slices.BinarySearchFunc(s.entries, entry{pos: pos, el: Element{ID: id}}, cmpEntry)
}

// Get returns the element with this id.
func (s *Set) Get(id string) (Element, bool) {
	if p, ok := s.dirty[id]; ok {
		if p.remove {
			return Element{}, false
		}
		return p.en.el, true
	}
	if i, ok := s.find(id, Pos(id)); ok {
		return s.entries[i].el, true
	}
	return Element{}, false
}

// Put inserts or updates an element.
func (s *Set) Put(e Element) {
	s.record(e.ID, pending{en: entry{pos: Pos(e.ID), el: e, hash: elementHash(e)}})
}

// Remove deletes an element by id.
func (s *Set) Remove(id string) {
	s.record(id, pending{en: entry{pos: Pos(id), el: Element{ID: id}}, remove: true})
}

func (s *Set) record(id string, p pending) {
	if s.dirty == nil {
		s.dirty = map[string]pending{}
	}
	s.dirty[id] = p
	s.prefix = nil
}

// flush merges the pending Puts and Removes into the sorted entries, in one pass:
// O(n + k log k) for k pending changes.
func (s *Set) flush() {
	if len(s.dirty) == 0 {
		return
	}
	changes := make([]pending, 0, len(s.dirty))
	for _, p := range s.dirty {
		changes = append(changes, p)
	}
	slices.SortFunc(changes, func(a, b pending) int { return cmpEntry(a.en, b.en) })
	out := make([]entry, 0, len(s.entries)+len(changes))
	i := 0
	for _, c := range changes {
		for i < len(s.entries) && cmpEntry(s.entries[i], c.en) < 0 {
			out = append(out, s.entries[i])
			i++
		}
		if i < len(s.entries) && s.entries[i].el.ID == c.en.el.ID {
			i++ // replaced or removed
		}
		if !c.remove {
			out = append(out, c.en)
		}
	}
	out = append(out, s.entries[i:]...)
	s.entries, s.dirty, s.prefix = out, nil, nil
}

func (s *Set) prefixes() [][32]byte {
	s.flush()
	if s.prefix == nil {
		p := make([][32]byte, len(s.entries)+1)
		for i, e := range s.entries {
			p[i+1] = p[i]
			xor(&p[i+1], &e.hash)
		}
		s.prefix = p
	}
	return s.prefix
}

// bounds returns the index range of entries with From <= pos <= To.
func (s *Set) bounds(r Range) (int, int) {
	lo, _ := slices.BinarySearchFunc(s.entries, r.From, func(e entry, p uint64) int {
		if e.pos < p {
			return -1
		}
		return 1
	})
	hi, _ := slices.BinarySearchFunc(s.entries, r.To, func(e entry, p uint64) int {
		if e.pos <= p {
			return -1
		}
		return 1
	})
	return lo, hi
}

// Range is an inclusive range [From, To] of positions; ElementLimit asks for the
// elements when the range holds at most that many.
type Range struct {
	From, To     uint64
	ElementLimit uint32
}

// Full is the whole position space.
func Full(limit uint32) Range { return Range{From: 0, To: math.MaxUint64, ElementLimit: limit} }

// RangeResult answers one Range: the count and XOR hash of its elements, and the elements
// themselves when count <= ElementLimit (or the range cannot be split).
type RangeResult struct {
	From, To uint64
	Count    uint32
	Hash     [32]byte
	Elements []Element // nil unless sent
}

func (s *Set) result(r Range, withElements bool) RangeResult {
	p := s.prefixes() // merges pending changes first
	lo, hi := s.bounds(r)
	res := RangeResult{From: r.From, To: r.To, Count: uint32(hi - lo)}
	for j := range res.Hash {
		res.Hash[j] = p[hi][j] ^ p[lo][j]
	}
	if withElements || res.Count <= r.ElementLimit || r.From == r.To {
		res.Elements = make([]Element, 0, hi-lo)
		for _, e := range s.entries[lo:hi] {
			res.Elements = append(res.Elements, e.el)
		}
	}
	return res
}

// Ranges answers a peer's range request: the responder's half of a head sync. Pure.
func (s *Set) Ranges(req []Range) ([]RangeResult, error) {
	if len(req) > protocol.MaxHeadSyncRanges {
		return nil, fmt.Errorf("%w: %d ranges, limit %d", ErrInvalid, len(req), protocol.MaxHeadSyncRanges)
	}
	out := make([]RangeResult, 0, len(req))
	sent := 0
	for _, r := range req {
		if r.From > r.To {
			return nil, fmt.Errorf("%w: range [%d, %d] is empty", ErrInvalid, r.From, r.To)
		}
		res := s.result(r, false)
		sent += len(res.Elements)
		if sent > protocol.MaxHeadSyncElements {
			return nil, fmt.Errorf("%w: response would exceed %d elements", ErrInvalid, protocol.MaxHeadSyncElements)
		}
		out = append(out, res)
	}
	return out, nil
}

// Result is what a head sync found, each list sorted by id.
type Result struct {
	Changed    []string // both have it, heads differ
	RemoteOnly []string // only the remote has it
	LocalOnly  []string // only we have it
}

// Driver is the initiator's half of a head sync. It is a stepping state machine with no
// I/O: send Next() to the peer, give its answer to Feed, repeat until Next returns nil.
type Driver struct {
	local                          *Set
	fanout                         int
	limit                          uint32
	pending                        []Range
	rounds                         int
	changed, remoteOnly, localOnly []string
	// takenChanged and takenRemote: how much of changed and remoteOnly
	// TakeWanted has handed out.
	takenChanged, takenRemote int
	// bulkElements bounds the elements of the next request once bulk
	// ranges are pending (0 before: then only the protocol's limit does).
	bulkElements int
}

// NewDriver starts a head sync of local against a peer. fanout <= 1 or limit 0 take the
// defaults.
func NewDriver(local *Set, fanout int, limit uint32) *Driver {
	if fanout <= 1 {
		fanout = DefaultFanout
	}
	if limit == 0 {
		limit = DefaultElementLimit
	}
	return &Driver{local: local, fanout: fanout, limit: limit, pending: []Range{Full(limit)}}
}

// Next returns the ranges to ask the peer about, or nil when the sync is complete. It
// never returns more than protocol.MaxHeadSyncRanges (what a peer answers in one
// request): when more ranges differ, the rest wait for the next rounds.
func (d *Driver) Next() []Range {
	if len(d.pending) == 0 {
		return nil
	}
	return slices.Clone(d.pending[:d.batch()])
}

// batch is how many of the pending ranges one request carries: at most
// protocol.MaxHeadSyncRanges, and no more than the peer may answer with
// their elements (protocol.MaxHeadSyncElements: a range is answered with at
// most its ElementLimit of them); always at least one.
func (d *Driver) batch() int {
	n, elements := 0, 0
	most := protocol.MaxHeadSyncElements
	if d.bulkElements > 0 {
		most = min(most, d.bulkElements)
	}
	for _, r := range d.pending {
		if n == protocol.MaxHeadSyncRanges || (n > 0 && elements+int(r.ElementLimit) > most) {
			break
		}
		n++
		elements += int(r.ElementLimit)
	}
	return n
}

// bulkChunk and bulkLimit shape the ranges asked of a part of the position
// space where the peer has objects and we have none, as a new device has
// everywhere: splitting such a range fanout ways a level at a time finds
// nothing but costs a round trip a level (an empty device against 100k
// objects took 69), when every element there is wanted anyway. It is split
// instead into ranges of about bulkChunk of the peer's elements (ids hash
// evenly over positions), each asking for up to bulkLimit (eight standard
// deviations above bulkChunk: a range that still holds more is split
// again), so that one request brings about 12k elements. maxBulkParts bounds
// the parts of one range: the count is the peer's word, and a peer that
// claims billions gets ranges that split again, not millions of them at once.
//
// firstBulkElements: the first request once bulk ranges are pending asks for
// at most that many elements, and each next one for twice as many as the
// last, up to protocol.MaxHeadSyncElements: like TCP's slow start, so that a
// download of what the first answer holds begins after a round trip of 200
// KB rather than after the one answer of 1.4 MB, which a slow link takes
// several round trips to bring (a bulk answer of 12k elements took 365 ms
// over a 50 ms round trip). The rounds after it overlap the download.
const (
	bulkChunk         = 1024
	bulkLimit         = 1280
	maxBulkParts      = 256
	firstBulkElements = 2 * bulkLimit
)

// Rounds returns the number of answers fed so far (round trips).
func (d *Driver) Rounds() int { return d.rounds }

// Feed processes the peer's answer to the last Next.
func (d *Driver) Feed(resp []RangeResult) error {
	asked := d.batch()
	if len(resp) != asked {
		return fmt.Errorf("%w: %d results for %d ranges", ErrInvalid, len(resp), asked)
	}
	d.rounds++
	next := slices.Clone(d.pending[asked:])
	bulk := false // this answer made ranges to ask in bulk
	for i, r := range resp {
		q := d.pending[i]
		if r.From != q.From || r.To != q.To {
			return fmt.Errorf("%w: result %d is for another range", ErrInvalid, i)
		}
		mine := d.local.result(q, r.Elements != nil)
		if mine.Count == r.Count && mine.Hash == r.Hash {
			continue
		}
		if r.Elements != nil {
			d.compare(mine.Elements, r.Elements)
			continue
		}
		if mine.Count == 0 && r.Count > d.limit {
			// In int: the peer's count plus a chunk would wrap a uint32.
			parts := split(q, min((int(r.Count)+bulkChunk-1)/bulkChunk, maxBulkParts))
			for i := range parts {
				parts[i].ElementLimit = max(bulkLimit, d.limit)
			}
			bulk = true
			next = append(next, parts...)
			continue
		}
		next = append(next, split(q, d.fanout)...)
	}
	d.pending = next
	switch {
	case d.bulkElements > 0:
		d.bulkElements = min(2*d.bulkElements, protocol.MaxHeadSyncElements)
	case bulk:
		d.bulkElements = firstBulkElements
	}
	return nil
}

func (d *Driver) compare(mine, theirs []Element) {
	m := make(map[string]string, len(mine))
	for _, e := range mine {
		m[e.ID] = e.HeadsHash
	}
	seen := make(map[string]bool, len(theirs))
	for _, e := range theirs {
		seen[e.ID] = true
		h, ok := m[e.ID]
		switch {
		case !ok:
			d.remoteOnly = append(d.remoteOnly, e.ID)
		case h != e.HeadsHash:
			d.changed = append(d.changed, e.ID)
		}
	}
	for _, e := range mine {
		if !seen[e.ID] {
			d.localOnly = append(d.localOnly, e.ID)
		}
	}
}

// TakeWanted returns the ids found since its last call that the initiator
// wants from the peer (Changed and RemoteOnly so far), sorted, so that it can
// fetch them while the sync goes on. Result still lists every one. Sorted,
// because both peers store objects by id: a download in id order reads and
// writes neighbouring keys (in hash order the whole download was 5-10%
// slower).
func (d *Driver) TakeWanted() []string {
	out := make([]string, 0, len(d.changed)-d.takenChanged+len(d.remoteOnly)-d.takenRemote)
	out = append(append(out, d.changed[d.takenChanged:]...), d.remoteOnly[d.takenRemote:]...)
	d.takenChanged, d.takenRemote = len(d.changed), len(d.remoteOnly)
	slices.Sort(out)
	return out
}

// Result returns what the sync found so far (complete once Next returns nil).
func (d *Driver) Result() Result {
	r := Result{Changed: slices.Clone(d.changed), RemoteOnly: slices.Clone(d.remoteOnly), LocalOnly: slices.Clone(d.localOnly)}
	slices.Sort(r.Changed)
	slices.Sort(r.RemoteOnly)
	slices.Sort(r.LocalOnly)
	return r
}

// split cuts an inclusive range into at most n contiguous sub-ranges.
func split(r Range, n int) []Range {
	step := (r.To-r.From)/uint64(n) + 1
	out := make([]Range, 0, n)
	lo := r.From
	for {
		hi := lo + step - 1
		if hi < lo || hi > r.To {
			hi = r.To
		}
		out = append(out, Range{From: lo, To: hi, ElementLimit: r.ElementLimit})
		if hi == r.To {
			return out
		}
		lo = hi + 1
	}
}

// Sync runs a whole head sync in-process against remote (tests and local peers).
func Sync(local, remote *Set) (Result, int, error) {
	d := NewDriver(local, 0, 0)
	for req := d.Next(); req != nil; req = d.Next() {
		resp, err := remote.Ranges(req)
		if err != nil {
			return Result{}, d.Rounds(), err
		}
		if err := d.Feed(resp); err != nil {
			return Result{}, d.Rounds(), err
		}
	}
	return d.Result(), d.Rounds(), nil
}

// RequestToPB converts ranges to a wire request.
func RequestToPB(space string, req []Range) *syncpb.HeadSyncRequest {
	m := &syncpb.HeadSyncRequest{SpaceId: space}
	for _, r := range req {
		m.Ranges = append(m.Ranges, &syncpb.HeadSyncRange{From: r.From, To: r.To, ElementLimit: r.ElementLimit})
	}
	return m
}

// RangesFromPB converts and checks a wire request.
func RangesFromPB(m *syncpb.HeadSyncRequest) ([]Range, error) {
	if len(m.Ranges) > protocol.MaxHeadSyncRanges {
		return nil, fmt.Errorf("%w: %d ranges, limit %d", ErrInvalid, len(m.Ranges), protocol.MaxHeadSyncRanges)
	}
	out := make([]Range, 0, len(m.Ranges))
	for _, r := range m.Ranges {
		if r == nil || r.From > r.To {
			return nil, fmt.Errorf("%w: empty range", ErrInvalid)
		}
		out = append(out, Range{From: r.From, To: r.To, ElementLimit: r.ElementLimit})
	}
	return out, nil
}

// ResponseToPB converts results to a wire response. An empty element list is sent as
// present (it matters: "here are all zero elements").
func ResponseToPB(res []RangeResult) *syncpb.HeadSyncResponse {
	m := &syncpb.HeadSyncResponse{}
	for _, r := range res {
		pr := &syncpb.HeadSyncRangeResult{From: r.From, To: r.To, Count: r.Count, Hash: append([]byte(nil), r.Hash[:]...)}
		if r.Elements != nil {
			pr.Elements = make([]*syncpb.HeadSyncElement, 0, len(r.Elements))
			for _, e := range r.Elements {
				pr.Elements = append(pr.Elements, &syncpb.HeadSyncElement{Id: e.ID, HeadsHash: e.HeadsHash})
			}
		}
		m.Results = append(m.Results, pr)
	}
	return m
}

// ResultsFromPB converts and checks a wire response. On the wire "no elements" and "zero
// elements" look the same, so a result with Count 0 or Count == len(elements) counts as
// carrying its elements.
func ResultsFromPB(m *syncpb.HeadSyncResponse) ([]RangeResult, error) {
	out := make([]RangeResult, 0, len(m.Results))
	total := 0
	for _, r := range m.Results {
		if r == nil || len(r.Hash) != 32 || r.From > r.To {
			return nil, fmt.Errorf("%w: malformed range result", ErrInvalid)
		}
		total += len(r.Elements)
		if total > protocol.MaxHeadSyncElements {
			return nil, fmt.Errorf("%w: more than %d elements", ErrInvalid, protocol.MaxHeadSyncElements)
		}
		res := RangeResult{From: r.From, To: r.To, Count: r.Count}
		copy(res.Hash[:], r.Hash)
		if len(r.Elements) > 0 || r.Count == 0 {
			if uint32(len(r.Elements)) != r.Count {
				return nil, fmt.Errorf("%w: %d elements for count %d", ErrInvalid, len(r.Elements), r.Count)
			}
			res.Elements = make([]Element, 0, len(r.Elements))
			for _, e := range r.Elements {
				res.Elements = append(res.Elements, Element{ID: e.Id, HeadsHash: e.HeadsHash})
			}
		}
		out = append(out, res)
	}
	return out, nil
}
