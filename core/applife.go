package core

import (
	"context"
	"runtime/debug"
	"time"
)

// The app lifecycle of a phone (mobile/ forwards the platform's callbacks):
// in the background the middleware keeps no connection and no timer, and
// under memory pressure it gives back what it can rebuild. Nothing here
// costs a reload: spaces stay loaded, writes keep working offline.

// Background closes the node connection and stops dialing until
// Foreground: no socket, no stream, no head-sync timer (engines offline have
// none), no RPC. Local writes go on and wait in the push queues.
func (a *App) Background() { a.setBackground(true) }

// Foreground connects again at once; head sync catches up on what the
// node received meanwhile.
func (a *App) Foreground() { a.setBackground(false) }

// setBackground records the state for an account that opens later and
// applies it to the open one's syncer. Pause and Resume only set a flag and
// wake the syncer, so holding the lock across them is cheap.
func (a *App) setBackground(bg bool) {
	a.life.Lock()
	defer a.life.Unlock()
	a.life.background = bg
	if s := a.life.syncer; s != nil {
		if bg {
			s.Pause()
		} else {
			s.Resume()
		}
	}
}

// NetworkChanged is the platform's hint that connectivity changed: a
// connection waiting out its backoff is tried now, and a live one is
// replaced (its socket may be dead without knowing it).
func (a *App) NetworkChanged() {
	if svc, err := a.services(); err == nil && svc.syncer != nil {
		svc.syncer.NetworkChanged()
	}
}

// MemoryPressure frees what the account holds in memory and can rebuild:
// every loaded space's object cache and open databases (they reopen on the
// next use), then returns freed memory to the OS.
func (a *App) MemoryPressure() error {
	svc, err := a.services()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = svc.spaces.Trim(ctx)
	if acc, aerr := a.accounts.Current(); aerr == nil {
		acc.DB().Sleep()
	}
	debug.FreeOSMemory()
	return err
}
