package core

import (
	"sync"
	"time"

	"github.com/hearth-sync/hearth/pb"
)

// progressEvery is the least time between two progress events of one piece
// of work: enough for a smooth bar, few enough not to crowd the sessions'
// queues.
const progressEvery = 100 * time.Millisecond

// Progress reports one piece of long work (a rebuild, an upload …) to the
// sessions as Event.Progress messages whose contextId is the caller's id. It
// is safe for concurrent use; a nil *Progress (no id asked for) reports
// nothing.
type Progress struct {
	id, kind, unit string
	send           func(*pb.Event)
	now            func() time.Time

	mu       sync.Mutex // guards last, finished
	last     time.Time
	finished bool
}

// NewProgress returns a reporter for the work a request named id (its
// progressId), or nil when id is empty.
func (a *App) NewProgress(id, kind, unit string) *Progress {
	if id == "" || a.cfg.Events == nil {
		return nil
	}
	return &Progress{id: id, kind: kind, unit: unit, send: a.cfg.Events, now: a.cfg.Now}
}

// Set reports that done of total units are done, at most once per
// progressEvery (the first report always goes out).
func (p *Progress) Set(stage string, done, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	now := p.now()
	if p.finished || (!p.last.IsZero() && now.Sub(p.last) < progressEvery) {
		p.mu.Unlock()
		return
	}
	p.last = now
	p.mu.Unlock()
	p.emit(stage, done, total, false)
}

// Finish reports the end of the work once; later calls do nothing.
func (p *Progress) Finish(done, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	was := p.finished
	p.finished = true
	p.mu.Unlock()
	if !was {
		p.emit("done", done, total, true)
	}
}

func (p *Progress) emit(stage string, done, total int64, finished bool) {
	p.send(&pb.Event{ContextId: p.id, Messages: []*pb.Event_Message{{Value: &pb.Event_Message_Progress{
		Progress: &pb.Event_Progress{Id: p.id, Kind: p.kind, Stage: stage, Done: done, Total: total, Unit: p.unit, Finished: finished},
	}}}})
}
