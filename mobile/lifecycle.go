package mobile

// The app lifecycle, forwarded from the platform (core/applife.go does the
// work). Each is safe before Start and after Stop: Background and
// Foreground are remembered and apply to the middleware Start opens; the
// others have nothing to act on.

// Background tells the middleware the app went to the background
// (Android: onStop of the last activity, or ProcessLifecycleOwner's ON_STOP;
// iOS: sceneDidEnterBackground). It closes the node connection and keeps no
// timer and makes no network call until Foreground. Nothing is closed that
// costs a reload: spaces stay loaded, commands keep working and local
// writes wait for Foreground to sync.
func Background() { std.setBackground(true) }

// Foreground tells the middleware the app is visible again: it connects at
// once and catches up on what the node received meanwhile.
func Foreground() { std.setBackground(false) }

// NetworkChanged is the platform's hint that connectivity changed (Android:
// ConnectivityManager.NetworkCallback; iOS: NWPathMonitor): a connection
// waiting out its backoff is tried now, and a live one is replaced (its
// socket may be dead without knowing it). Harmless when nothing changed.
func NetworkChanged() { std.networkChanged() }

// MemoryPressure frees what the middleware holds in memory and can rebuild
// (Android: onTrimMemory; iOS: didReceiveMemoryWarning): every loaded
// space's object cache and open databases (they reopen on the next use),
// then returns the freed memory to the OS. Spaces stay loaded: unloading the
// spaces no subscription uses is not done yet. The error is a failure to
// trim a space; the middleware goes on either way.
func MemoryPressure() error { return std.memoryPressure() }

func (m *instance) setBackground(bg bool) {
	defer m.recoverInto(nil, "background")
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	m.mu.Lock()
	m.background = bg
	m.mu.Unlock()
	r := m.acquire()
	if r == nil {
		return
	}
	defer r.calls.Done()
	if bg {
		r.lib.App().Background()
	} else {
		r.lib.App().Foreground()
	}
}

func (m *instance) networkChanged() {
	defer m.recoverInto(nil, "network changed")
	if r := m.acquire(); r != nil {
		defer r.calls.Done()
		r.lib.App().NetworkChanged()
	}
}

func (m *instance) memoryPressure() (err error) {
	defer m.recoverInto(&err, "memory pressure")
	r := m.acquire()
	if r == nil {
		return nil
	}
	defer r.calls.Done()
	if _, err := r.lib.App().Accounts().Current(); err != nil {
		return nil // no account open: nothing to free
	}
	if err := r.lib.App().MemoryPressure(); err != nil {
		m.logger().Warn("memory pressure: trimming failed", "err", err)
		return err
	}
	return nil
}
