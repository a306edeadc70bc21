package acl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
)

// harness runs ACL scenarios written in a tiny line DSL (see TestScenarios). Every step
// goes through the real path: Builder → VerifyAuthor → Countersign (node) → Verify
// (client, pinned node key) → State.Apply.
type harness struct {
	t         testing.TB
	space     crypto.SpaceID
	node      crypto.PrivKey
	st        State
	states    []State // every state, for "stale"
	keys      map[string]crypto.PrivKey
	invites   map[string]crypto.RecordID
	inviteK   map[string]crypto.PrivKey
	requests  map[string]crypto.RecordID // joiner name -> pending request
	joinedVia map[string]string          // joiner name -> invite name
	knows     map[string][]string        // name -> links it holds besides the one it joined through
	readKey   crypto.SymKey
	nkeys     int
	last      []byte // last accepted record (for replay)
	ts        int64
}

func testKey(t testing.TB, name string) crypto.PrivKey {
	k, err := crypto.GenerateKeyFrom(golden.Reader("key:" + name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, node: testKey(t, "node"), keys: map[string]crypto.PrivKey{},
		invites: map[string]crypto.RecordID{}, inviteK: map[string]crypto.PrivKey{}, requests: map[string]crypto.RecordID{}, joinedVia: map[string]string{},
		knows: map[string][]string{}}
	h.space = crypto.SpaceID(crypto.Sum([]byte("scenario space")))
	h.st = New(h.space, h.key("owner").Public())
	h.readKey = h.newReadKey()
	return h
}

func (h *harness) key(name string) crypto.PrivKey {
	if k, ok := h.keys[name]; ok {
		return k
	}
	k := testKey(h.t, name)
	h.keys[name] = k
	return k
}

func (h *harness) newReadKey() crypto.SymKey {
	h.nkeys++
	k, err := crypto.NewSymKeyFrom(golden.Reader(fmt.Sprintf("readkey:%d", h.nkeys)))
	if err != nil {
		h.t.Fatal(err)
	}
	return k
}

func (h *harness) builder(name string) Builder {
	return Builder{Author: h.key(name), Rand: golden.Reader(fmt.Sprintf("rand:%d", h.ts)), Name: name}
}

func parseRole(s string) Role {
	for r := RoleNone; r <= RoleOwner; r++ {
		if r.String() == s {
			return r
		}
	}
	return Role(-1)
}

var errKinds = map[string]error{"invalid": ErrInvalid, "conflict": ErrConflict, "replay": ErrReplay, "permission": ErrPermission, "sequence": ErrSequence}

// step runs one DSL line and returns its error.
func (h *harness) step(line string) error {
	f := strings.Fields(line)
	if len(f) < 2 {
		f = append(f, "")
	}
	actor, verb, args := f[0], f[1], f[2:]
	h.ts++
	switch actor {
	case "check":
		// check <name> <role>
		if got := h.st.Role(h.key(verb).Public()); got != parseRole(args[0]) {
			return fmt.Errorf("check: %s is %s, want %s", verb, got, args[0])
		}
		return nil
	case "keys":
		// keys <name> <n|none>: how many read keys name can decrypt
		ks, err := ReadKeys(h.st, h.secrets(verb)...)
		if args[0] == "none" {
			if err == nil {
				return fmt.Errorf("keys: %s decrypted %d keys, want none", verb, len(ks))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("keys: %s: %w", verb, err)
		}
		if _, ok := ks[h.st.ReadKeyID()]; args[0] != "old" && !ok {
			return fmt.Errorf("keys: %s lacks the current key", verb)
		}
		if args[0] == "old" {
			if _, ok := ks[h.st.ReadKeyID()]; ok {
				return fmt.Errorf("keys: %s has the current key", verb)
			}
			return nil
		}
		if n, _ := strconv.Atoi(args[0]); n != len(ks) {
			return fmt.Errorf("keys: %s has %d keys, want %d", verb, len(ks), n)
		}
		return nil
	case "replay":
		return h.accept(h.last, h.node)
	case "knows":
		// knows <name> <invite>: name holds that link too (it was shared in the same chat)
		h.knows[verb] = append(h.knows[verb], args[0])
		return nil
	case "open":
		// open <n>: how many invites are open
		if n, _ := strconv.Atoi(verb); n != len(h.st.Invites()) {
			return fmt.Errorf("open: %d invites are open, want %s", len(h.st.Invites()), verb)
		}
		return nil
	}
	stale := false
	if verb == "stale" { // build on the state before the head
		stale, verb, args = true, args[0], args[1:]
	}
	st := h.st
	if stale {
		st = h.states[len(h.states)-2]
	}
	b := h.builder(actor)
	var raw []byte
	var err error
	switch verb {
	case "root":
		raw, err = b.Root(h.space, h.readKey, h.ts)
	case "invite": // invite <name> <role> auto|approve
		ik := testKey(h.t, "invite:"+args[0])
		h.inviteK[args[0]] = ik
		raw, err = b.Invite(st, ik.Public(), parseRole(args[1]), args[2] == "approve", h.readKey, h.ts)
	case "join": // join <invite>
		raw, err = b.JoinRequest(st, h.invites[args[0]], h.inviteK[args[0]], h.ts)
	case "accept": // accept <joiner> <role>
		raw, err = b.JoinAccept(st, h.requests[args[0]], parseRole(args[1]), h.readKey, h.ts)
	case "decline":
		raw, err = b.JoinDecline(st, h.requests[args[0]], h.ts)
	case "legacyremove": // legacyremove <name>...: a Remove made before closes_invites existed
		var who []crypto.PubKey
		for _, a := range args {
			who = append(who, h.key(a).Public())
		}
		nk := h.newReadKey()
		raw, err = b.legacyRemove(st, who, h.readKey, nk, h.ts)
		if err == nil {
			defer func() {
				if h.st.ReadKeyID() == nk.ID() {
					h.readKey = nk
				}
			}()
		}
	case "remove": // remove <name>...
		var who []crypto.PubKey
		for _, a := range args {
			who = append(who, h.key(a).Public())
		}
		nk := h.newReadKey()
		raw, err = b.Remove(st, who, h.readKey, nk, h.ts)
		if err == nil {
			defer func() {
				if h.st.ReadKeyID() == nk.ID() {
					h.readKey = nk
				}
			}()
		}
	case "rotate":
		nk := h.newReadKey()
		raw, err = b.RotateKey(st, h.readKey, nk, h.ts)
		defer func() {
			if h.st.ReadKeyID() == nk.ID() {
				h.readKey = nk
			}
		}()
	case "leave":
		raw, err = b.Leave(st, h.ts)
	case "setrole":
		raw, err = b.SetRole(st, h.key(args[0]).Public(), parseRole(args[1]), h.ts)
	case "revoke":
		raw, err = b.InviteRevoke(st, h.invites[args[0]], h.ts)
	case "forge": // forge <name>: a setrole record whose signature is corrupted
		raw, err = b.SetRole(st, h.key(args[0]).Public(), RoleAdmin, h.ts)
		raw[len(raw)-1] ^= 1
	default:
		h.t.Fatalf("unknown verb %q in %q", verb, line)
	}
	if err != nil {
		return err
	}
	rec, err := VerifyAuthor(raw)
	if err != nil {
		return err
	}
	vr, err := Countersign(h.node, rec, h.st.Seq()+1)
	if err != nil {
		return err
	}
	if err := h.accept(vr.Accepted, h.node); err != nil {
		return err
	}
	switch verb {
	case "invite":
		h.invites[args[0]] = rec.ID
	case "join":
		h.joinedVia[actor] = args[0]
		if _, pending := h.st.requests[rec.ID]; pending {
			h.requests[actor] = rec.ID
		}
	}
	return nil
}

// secrets returns what name holds: its own key, the key of the invite it joined through
// and of every other link it knows.
func (h *harness) secrets(name string) []crypto.PrivKey {
	out := []crypto.PrivKey{h.key(name)}
	if inv, ok := h.joinedVia[name]; ok {
		out = append(out, h.inviteK[inv])
	}
	for _, inv := range h.knows[name] {
		out = append(out, h.inviteK[inv])
	}
	return out
}

// legacyRemove builds a Remove as Builders did before AclRemove.closes_invites: only the
// invite the removed members joined through closes, and the new key is sealed to the other
// open no-approval invites. Stored chains hold such records; the fold must still read them.
func (b Builder) legacyRemove(s State, who []crypto.PubKey, prevKey, newKey crypto.SymKey, ts int64) ([]byte, error) {
	return b.remove(s, who, prevKey, newKey, ts, false)
}

func (h *harness) accept(raw []byte, node crypto.PrivKey) error {
	vr, err := Verify(raw, node.Public())
	if err != nil {
		return err
	}
	st, err := h.st.Apply(vr)
	if err != nil {
		return err
	}
	h.states = append(h.states, h.st)
	h.st, h.last = st, raw
	return nil
}

func (h *harness) run(script string) {
	h.t.Helper()
	for i, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if c := strings.Index(line, "#"); c >= 0 {
			line = strings.TrimSpace(line[:c])
		}
		if line == "" {
			continue
		}
		want := ""
		if a, b, ok := strings.Cut(line, "!"); ok {
			line, want = strings.TrimSpace(a), strings.TrimSpace(b)
		}
		err := h.step(line)
		switch {
		case want == "" && err != nil:
			h.t.Fatalf("line %d %q: unexpected error: %v", i+1, line, err)
		case want != "" && !errors.Is(err, errKinds[want]):
			h.t.Fatalf("line %d %q: got error %v, want %s", i+1, line, err, want)
		}
	}
}
