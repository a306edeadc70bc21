package node

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Quotas (DESIGN §5, issue 16.4). What a space holds counts against its owner, the
// identity that created it: the store keeps the counters in the transaction of each write
// (node/store.Quotas) and refuses a write over Config.MaxSpaces, ChangeQuota,
// IdentityBlobQuota or the space's BlobQuota. Sessions and streams are bounded here, per
// node, in memory: Config.MaxSessions devices of one account with a live session, and
// Config.MaxStreams Subscribe streams open at once on one session. Every refusal is
// RESOURCE_EXHAUSTED with the reason QUOTA_EXCEEDED (syncpb.ErrorWithReason), which a
// device shows as its spaces' status `limited`.

// orDefault is a Config value: 0 takes def, a negative value means no limit (0).
func orDefault[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// limits are the store's limits of every write.
func (n *Node) limits() store.Limits {
	return store.Limits{Spaces: n.cfg.MaxSpaces, ChangeBytes: n.cfg.ChangeQuota, BlobBytes: n.cfg.IdentityBlobQuota,
		SpaceBlobBytes: n.cfg.BlobQuota}
}

// quotaErr answers a write the store refused over a limit; nil when err is no quota
// refusal.
func quotaErr(err error) error {
	var q *store.QuotaError
	if !errors.As(err, &q) {
		return nil
	}
	return syncpb.ErrorWithReason(syncpb.ReasonQuotaExceeded, q.Error(), map[string]string{"limit": q.Kind.String(),
		"used": strconv.FormatInt(q.Used, 10), "max": strconv.FormatInt(q.Limit, 10), "size": strconv.FormatInt(q.Size, 10)})
}

// limitErr is the refusal of a session or a stream over its limit.
func limitErr(limit, msg string, max int) error {
	return syncpb.ErrorWithReason(syncpb.ReasonQuotaExceeded, msg, map[string]string{"limit": limit, "max": strconv.Itoa(max)})
}

// maxTrackedSessions bounds the session table. When it is full of live sessions, a new
// device is let in untracked (and counted in Stats): refusing it would let a flood of
// made-up identities lock every device out, which the per-address rate limit of
// handshakes (ratelimit.go) already slows down.
const maxTrackedSessions = 1 << 18

// sessionTable counts the devices of each account that hold a live session on this node.
// Tokens are stateless (auth.go); the table only remembers, per account, each device's
// latest expiry. mu guards the maps; it is never held across I/O.
type sessionTable struct {
	max int // devices per account; 0: no limit

	mu        sync.Mutex
	accounts  map[crypto.PubKey]map[crypto.PubKey]time.Time
	total     int
	lastSweep time.Time
	untracked int64 // admitted while the table was full
}

func (t *sessionTable) init(max int) {
	t.max = max
	t.accounts = map[crypto.PubKey]map[crypto.PubKey]time.Time{}
}

// admit records that device of account holds a session until expires, or refuses it when
// the account already has max other devices with live sessions here.
func (t *sessionTable) admit(account, device crypto.PubKey, expires, now time.Time) error {
	if t.max <= 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	devs := t.accounts[account]
	if exp, ok := devs[device]; ok {
		if expires.After(exp) {
			devs[device] = expires
		}
		return nil
	}
	for d, exp := range devs { // drop this account's expired sessions
		if !now.Before(exp) {
			delete(devs, d)
			t.total--
		}
	}
	if len(devs) >= t.max {
		return limitErr("sessions", "quota exceeded: "+strconv.Itoa(len(devs))+" devices of this account hold a session on this node, the most is "+
			strconv.Itoa(t.max)+": close some, or wait until their sessions expire", t.max)
	}
	if t.total >= maxTrackedSessions {
		t.sweepLocked(now)
		if t.total >= maxTrackedSessions {
			t.untracked++
			return nil
		}
	}
	if devs == nil {
		devs = map[crypto.PubKey]time.Time{}
		t.accounts[account] = devs
	}
	devs[device] = expires
	t.total++
	return nil
}

// sweepLocked drops every expired session, at most once a second.
func (t *sessionTable) sweepLocked(now time.Time) {
	if now.Sub(t.lastSweep) < time.Second {
		return
	}
	t.lastSweep = now
	for a, devs := range t.accounts {
		for d, exp := range devs {
			if !now.Before(exp) {
				delete(devs, d)
				t.total--
			}
		}
		if len(devs) == 0 {
			delete(t.accounts, a)
		}
	}
}
