package objtree

import (
	"fmt"
	"testing"

	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/internal/golden"
)

// env is a space with an ACL driven through the real acl path (build, countersign, verify,
// apply) and deterministic keys.
type env struct {
	t       testing.TB
	space   crypto.SpaceID
	node    crypto.PrivKey
	st      acl.State
	keys    map[string]crypto.PrivKey
	readKey crypto.SymKey
	nkeys   int
	ts      int64
}

func key(t testing.TB, name string) crypto.PrivKey {
	k, err := crypto.GenerateKeyFrom(golden.Reader("key:" + name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, node: key(t, "node"), keys: map[string]crypto.PrivKey{}}
	e.space = crypto.SpaceID(crypto.Sum([]byte("objtree space")))
	e.st = acl.New(e.space, e.key("owner").Public())
	e.readKey = e.newReadKey()
	e.must(acl.Builder{Author: e.key("owner"), Rand: e.rand()}.Root(e.space, e.readKey, e.tick()))
	return e
}

func (e *env) tick() int64 { e.ts++; return e.ts }

func (e *env) rand() *golden.XOF { return golden.NewXOF(fmt.Sprintf("rand:%d", e.ts)) }

func (e *env) key(name string) crypto.PrivKey {
	if k, ok := e.keys[name]; ok {
		return k
	}
	k := key(e.t, name)
	e.keys[name] = k
	return k
}

func (e *env) newReadKey() crypto.SymKey {
	e.nkeys++
	k, err := crypto.NewSymKeyFrom(golden.Reader(fmt.Sprintf("readkey:%d", e.nkeys)))
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

func (e *env) must(raw []byte, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	rec, err := acl.VerifyAuthor(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	vr, err := acl.Countersign(e.node, rec, e.st.Seq()+1)
	if err != nil {
		e.t.Fatal(err)
	}
	vr, err = acl.Verify(vr.Accepted, e.node.Public())
	if err != nil {
		e.t.Fatal(err)
	}
	if e.st, err = e.st.Apply(vr); err != nil {
		e.t.Fatal(err)
	}
}

// join adds name with role through a no-approval invite.
func (e *env) join(name string, role acl.Role) {
	ik := key(e.t, "invite:"+name)
	e.must(acl.Builder{Author: e.key("owner"), Rand: e.rand()}.Invite(e.st, ik.Public(), role, false, e.readKey, e.tick()))
	inv := e.st.Head()
	e.must(acl.Builder{Author: e.key(name)}.JoinRequest(e.st, inv, ik, e.tick()))
}

func (e *env) remove(name string) {
	nk := e.newReadKey()
	e.must(acl.Builder{Author: e.key("owner"), Rand: e.rand()}.Remove(e.st, []crypto.PubKey{e.key(name).Public()}, e.readKey, nk, e.tick()))
	e.readKey = nk
}

func (e *env) keysOf(name string) map[crypto.KeyID]crypto.SymKey {
	ks, err := acl.ReadKeys(e.st, e.key(name), key(e.t, "invite:"+name))
	if err != nil {
		e.t.Fatal(err)
	}
	return ks
}

func (e *env) builder(name string) Builder {
	return Builder{Space: e.space, Author: e.key(name), Rand: e.rand()}
}

func (e *env) verify(raw []byte, err error) Change {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := Verify(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}
