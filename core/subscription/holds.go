package subscription

// Holds reports whether a live subscription covers space id (it names the
// space, or covers every loaded space): unloading the space would take
// records out of its view, so an idle unload leaves it loaded.
func (s *Service) Holds(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sb := range s.subs {
		if sb.covers(id) {
			return true
		}
	}
	return false
}
