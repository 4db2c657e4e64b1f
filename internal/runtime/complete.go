package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// CompleteInTx completes a job in the transaction its work began (store.WithLazyTx),
// or in a new one, after record, and commits: the work's writes and the job's
// completion happen together or not at all. A transaction that could not begin fails
// the job with that error.
func CompleteInTx[T river.JobArgs](ctx context.Context, lazy *store.LazyTx, job *river.Job[T], record func(tx *sql.Tx) error) error {
	if _, err := lazy.Begun(); err != nil {
		return fmt.Errorf("begin the job's transaction: %w", err)
	}
	tx, err := lazy.Begin(ctx)
	if err != nil {
		return err
	}
	if record != nil {
		if err := record(tx); err != nil {
			return err
		}
	}
	if _, err := river.JobCompleteTx[riverdriver.Driver[*sql.Tx]](ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit()
}

// RetryOrCancel maps a job's error to River's outcome: an error that repeating cannot
// fix — a Stripe 4xx, a refusal such as no key for the mode — cancels the job
// (river.JobCancel); anything else, a context ended by shutdown included, is retried
// with backoff. Errors already wrapped by river.JobCancel or river.JobSnooze pass
// through.
func RetryOrCancel(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var (
		cancelErr *rivertype.JobCancelError
		snoozeErr *rivertype.JobSnoozeError
	)
	if errors.As(err, &cancelErr) || errors.As(err, &snoozeErr) || ctx.Err() != nil {
		return err
	}
	if !stripeclient.IsRetryable(err) {
		return river.JobCancel(err)
	}
	return err
}
