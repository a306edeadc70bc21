package syncengine

import (
	"context"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// applier applies a download's verified batches, in order, on its own
// goroutine, so that the download receives and verifies its next batch
// (on every core) while the space's actor stores and indexes this one.
// download owns it: newApplier starts the goroutine, finish stops it and
// waits for it, on every path.
type applier struct {
	local    Local
	ctx      context.Context
	progress func(done int) // called on the goroutine with the objects done, after a job that ends a fetch batch
	queue    chan applyJob  // one batch waits while one applies
	done     chan struct{}  // closed when the goroutine has exited

	// Written by the goroutine, read once done is closed.
	err       error
	again     []crypto.ObjectID // objects whose answer left parents missing
	doneTotal int               // objects of the fetch batches applied so far
}

// applyJob is one batch: the objects, their ids, and whether each is the
// last part of its object's answer (only then do missing parents count).
// done > 0 marks the last job of a fetch batch of done objects: once it is
// applied, they are done.
type applyJob struct {
	objs []space.Verified
	ids  []crypto.ObjectID
	last []bool
	done int
}

func newApplier(ctx context.Context, local Local, progress func(done int)) *applier {
	a := &applier{local: local, ctx: ctx, progress: progress, queue: make(chan applyJob, 1), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *applier) run() {
	defer close(a.done)
	for job := range a.queue {
		if len(job.objs) > 0 {
			missing, err := a.local.ApplyVerified(a.ctx, job.objs)
			if err != nil {
				a.err = err
				return
			}
			for i, m := range missing {
				if len(m) > 0 && job.last[i] {
					a.again = append(a.again, job.ids[i])
				}
			}
		}
		if job.done > 0 {
			a.doneTotal += job.done
			a.progress(a.doneTotal)
		}
	}
}

// submit queues a batch; it waits while another batch is queued, and
// answers the error that stopped the applier, if it stopped.
func (a *applier) submit(job applyJob) error {
	select {
	case a.queue <- job:
		return nil
	case <-a.done:
		return a.err
	}
}

// finish waits until every queued batch is applied and stops the applier:
// the objects to fetch again, or the error that stopped it.
func (a *applier) finish() ([]crypto.ObjectID, error) {
	close(a.queue)
	<-a.done
	return a.again, a.err
}
