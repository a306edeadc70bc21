package node

import (
	"bytes"
	"crypto/rand"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/handshake"
)

func testAuth(t testing.TB) *authState {
	k, err := crypto.GenerateKeyFrom(bytes.NewReader(make([]byte, 32)))
	require.NoError(t, err)
	var a authState
	a.init(k)
	return &a
}

func TestChallenge(t *testing.T) {
	a := testAuth(t)
	now := time.Unix(1_700_000_000, 0)
	c, err := a.newChallenge(now, rand.Reader)
	require.NoError(t, err)
	require.Len(t, c, handshake.NonceSize, "the wire format is unchanged")
	require.NoError(t, a.checkChallenge(c, now.Add(time.Second), time.Minute))
	require.ErrorIs(t, a.checkChallenge(c, now.Add(2*time.Second), time.Minute), errChallengeReplayed)

	other := testAuth(t)
	k2, _ := crypto.GenerateKey()
	other.init(k2)
	c2, _ := a.newChallenge(now, rand.Reader)
	require.ErrorIs(t, other.checkChallenge(c2, now, time.Minute), errChallengeForged, "another cluster's key")
	require.NoError(t, testAuth(t).checkChallenge(c2, now, time.Minute), "any node with the same key")

	c3, _ := a.newChallenge(now, rand.Reader)
	require.ErrorIs(t, a.checkChallenge(c3, now.Add(time.Minute), time.Minute), errChallengeExpired)
	c4, _ := a.newChallenge(now.Add(time.Minute), rand.Reader)
	require.ErrorIs(t, a.checkChallenge(c4, now, time.Minute), errChallengeExpired, "from the future beyond the skew")
	c5, _ := a.newChallenge(now.Add(maxClockSkew/2), rand.Reader)
	require.NoError(t, a.checkChallenge(c5, now, time.Minute), "a little clock skew between nodes")
	c6, _ := a.newChallenge(now, rand.Reader)
	c6[9] ^= 1
	require.ErrorIs(t, a.checkChallenge(c6, now, time.Minute), errChallengeForged, "a changed byte")
}

// TestReplayCacheBounded: the cache never grows past its two generations, and a used
// challenge is refused while it is valid.
func TestReplayCacheBounded(t *testing.T) {
	a := testAuth(t)
	now := time.Unix(1_700_000_000, 0)
	var first []byte
	for i := range 3 * maxReplayGeneration {
		c, err := a.newChallenge(now, rand.Reader)
		require.NoError(t, err)
		require.NoError(t, a.checkChallenge(c, now, time.Minute))
		if i == 0 {
			first = c
		}
		if i == 10 {
			require.ErrorIs(t, a.checkChallenge(first, now, time.Minute), errChallengeReplayed)
		}
	}
	require.LessOrEqual(t, len(a.cur)+len(a.old), 2*maxReplayGeneration)
}

func TestSessionToken(t *testing.T) {
	a := testAuth(t)
	now := time.Unix(1_700_000_000, 0)
	acc, _ := crypto.GenerateKey()
	dev, _ := crypto.GenerateKey()
	tok, err := a.newToken(acc.Public(), dev.Public(), now.Add(time.Hour), rand.Reader)
	require.NoError(t, err)
	s, err := testAuth(t).parseToken(tok, now)
	require.NoError(t, err, "another node of the cluster verifies it")
	require.Equal(t, acc.Public(), s.account)
	require.Equal(t, dev.Public(), s.device)
	require.Equal(t, now.Add(time.Hour).UnixMilli(), s.expires.UnixMilli())
	_, err = a.parseToken(tok, now.Add(time.Hour))
	require.ErrorIs(t, err, errTokenExpired)
	tok2, _ := a.newToken(acc.Public(), dev.Public(), now.Add(time.Hour), rand.Reader)
	require.NotEqual(t, tok, tok2, "every session has its own token")

	// A token whose account was swapped does not verify.
	b := []byte(tok)
	b[10] ^= 'a' ^ 'b'
	_, err = a.parseToken(string(b), now)
	require.ErrorIs(t, err, errTokenInvalid)
	k2, _ := crypto.GenerateKey()
	var other authState
	other.init(k2)
	_, err = other.parseToken(tok, now)
	require.ErrorIs(t, err, errTokenInvalid, "another cluster")
}

// FuzzSessionToken: any string is refused or is a token this key made, never a panic.
func FuzzSessionToken(f *testing.F) {
	a := testAuth(f)
	now := time.Unix(1_700_000_000, 0)
	acc, _ := crypto.GenerateKeyFrom(bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	tok, _ := a.newToken(acc.Public(), acc.Public(), now.Add(time.Hour), bytes.NewReader(make([]byte, 8)))
	f.Add(tok)
	f.Add("")
	f.Add("nope")
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := a.parseToken(tok, now)
		if err != nil {
			return
		}
		if s.token != tok || !now.Before(s.expires) {
			t.Fatalf("accepted %q as %+v", tok, s)
		}
	})
}

// FuzzChallenge: arbitrary Auth challenges are refused unless they carry this key's MAC.
func FuzzChallenge(f *testing.F) {
	a := testAuth(f)
	now := time.Unix(1_700_000_000, 0)
	c, _ := a.newChallenge(now, bytes.NewReader(make([]byte, 8)))
	f.Add(c)
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, c []byte) {
		err := a.checkChallenge(c, now, time.Minute)
		if err == nil && (len(c) != handshake.NonceSize || !bytes.Equal(c[16:], mac(&a.challengeKey, challengeDomain, c[:16]))) {
			t.Fatalf("accepted a challenge without the MAC: %x", c)
		}
	})
}

func TestLimiter(t *testing.T) {
	var l limiter
	l.init(10, 5)
	now := time.Unix(1_700_000_000, 0)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	for range 5 {
		require.True(t, l.take(a, now))
	}
	require.False(t, l.take(a, now), "burst used up")
	require.True(t, l.take(b, now), "another address has its own budget")
	require.True(t, l.take(a, now.Add(100*time.Millisecond)), "refilled at the rate")
	require.False(t, l.take(a, now.Add(100*time.Millisecond)))

	// The table stays bounded: idle (refilled) buckets are dropped; when all are busy,
	// new addresses share the overflow bucket.
	var m limiter
	m.init(1, 2)
	for i := range maxLimitedAddrs {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		require.True(t, m.take(ip, now))
	}
	require.Equal(t, maxLimitedAddrs, m.size())
	extra := netip.MustParseAddr("198.51.100.1")
	require.True(t, m.take(extra, now), "overflow bucket")
	require.True(t, m.take(extra, now))
	require.False(t, m.take(netip.MustParseAddr("198.51.100.2"), now), "the overflow bucket is shared")
	require.Equal(t, maxLimitedAddrs, m.size(), "never more than the bound")
	later := now.Add(10 * time.Second)
	require.True(t, m.take(extra, later))
	require.Equal(t, 1, m.size(), "refilled buckets were dropped, the new address has its own")
}

func TestAddrKey(t *testing.T) {
	require.Equal(t, netip.MustParseAddr("127.0.0.2"), addrKey(&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 5}))
	require.Equal(t, netip.MustParseAddr("2001:db8:1:2::"), addrKey(&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6")}), "IPv6 per /64")
	require.Equal(t, netip.MustParseAddr("10.0.0.1"), addrKey(&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1")}))
	require.Equal(t, netip.Addr{}, addrKey(nil))
}

// TestLimiterProperty: whatever the calls, an address is never allowed more than its burst
// plus what the rate refilled since its first call, and a fresh address with a full
// budget is allowed while the table has room.
func TestLimiterProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		rate := rapid.Float64Range(1, 50).Draw(rt, "rate")
		burst := rapid.IntRange(1, 20).Draw(rt, "burst")
		var l limiter
		l.init(rate, burst)
		start := time.Unix(1_700_000_000, 0)
		now := start
		allowed := map[netip.Addr]int{}
		first := map[netip.Addr]time.Time{}
		for range rapid.IntRange(1, 300).Draw(rt, "calls") {
			now = now.Add(time.Duration(rapid.IntRange(0, 200).Draw(rt, "gap-ms")) * time.Millisecond)
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(rapid.IntRange(0, 3).Draw(rt, "addr"))})
			if _, ok := first[a]; !ok {
				first[a] = now
				require.True(rt, l.take(a, now), "a new address has its burst")
				allowed[a]++
				continue
			}
			if l.take(a, now) {
				allowed[a]++
			}
			limit := float64(burst) + now.Sub(first[a]).Seconds()*rate
			require.LessOrEqual(rt, float64(allowed[a]), limit+1e-9, "address %v", a)
		}
	})
}
