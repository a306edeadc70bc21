// Package maintenance runs an account's maintenance agents (index rebuild,
// index verify and repair, and any job the caller adds, such as a refcount
// repair) one at a time per account, under the account's maintenance lease
// (core/lease).
//
// It owns only the rule "take the lease, run the job with the lease's
// context, release": it knows nothing of what a job does and never runs one
// without the lease. A job whose lease is lost sees its context cancelled
// and the run fails with kind Transient.
package maintenance

import (
	"context"
	"errors"

	"github.com/hearth-sync/hearth/core/lease"
	"github.com/hearth-sync/hearth/internal/errkind"
)

// LeaseName is the account-wide maintenance lease.
const LeaseName = "maintenance"

// Runner runs maintenance jobs under the lease.
type Runner struct {
	leases *lease.Manager
}

// New returns a Runner over an account's leases.
func New(leases *lease.Manager) *Runner { return &Runner{leases: leases} }

// Run takes the maintenance lease for what (a description for people, shown
// to a second caller: "rebuild of space X"), runs job with a context that
// ends when ctx does or the lease is lost, and releases the lease. A second
// Run while one holds the lease fails at once with kind Busy.
func (r *Runner) Run(ctx context.Context, what string, job func(ctx context.Context) error) error {
	held, err := r.leases.Acquire(ctx, LeaseName, what)
	if err != nil {
		return err
	}
	defer held.Release()
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(held.Context(), func() { cancel(context.Cause(held.Context())) })
	defer stop()
	err = job(jctx)
	if lost := held.Lost(); lost != nil {
		return errkind.E("maintenance", errkind.Transient, errors.Join(lost, err))
	}
	return err
}
