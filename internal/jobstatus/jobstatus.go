// Package jobstatus is how a job looks from outside: who it was enqueued for (recorded
// in its River metadata) and its status as the API, the CLI and the test kit show it.
package jobstatus

import (
	"encoding/json"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/stripeclient"
)

// MetadataKey holds, in a job's River metadata, who enqueued it.
const MetadataKey = "appbackend"

// Owner is the account (and, when known, the mode and user) a job was enqueued for.
type Owner struct {
	AccountID string `json:"account_id"`
	Livemode  *bool  `json:"livemode,omitempty"`
	UserID    string `json:"user_id,omitempty"`
}

// OwnerOf reads the owner Enqueue recorded in a job's metadata; nil for a job enqueued
// for no account (or by something else than Enqueue).
func OwnerOf(job *rivertype.JobRow) *Owner {
	var meta struct {
		Owner *Owner `json:"appbackend"`
	}
	if json.Unmarshal(job.Metadata, &meta) != nil || meta.Owner == nil || meta.Owner.AccountID == "" {
		return nil
	}
	return meta.Owner
}

// Status is a job as GET /api/jobs/{id} and `appbackend jobs --json` show it:
//
//	{"id":12,"kind":"export","queue":"default","state":"completed","attempts":1,
//	 "max_attempts":8,"account_id":"acct_…","created_at":"…","scheduled_at":"…",
//	 "attempted_at":"…","finalized_at":"…","errors":[],"output":{…}}
//
// state is River's: available, scheduled, running, retryable (failed, to be tried
// again), completed, cancelled, discarded (out of attempts) or pending. finalized_at
// is set once the job is completed, cancelled or discarded. errors lists the failed
// attempts, oldest first, with the error each returned; return errors whose text the
// merchant may see (appbackend.NewError), since the UI shows them. output is what the
// worker recorded with river.RecordOutput, or null.
type Status struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	AccountID   *string         `json:"account_id"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	AttemptedAt *time.Time      `json:"attempted_at"`
	FinalizedAt *time.Time      `json:"finalized_at"`
	Errors      []Error         `json:"errors"`
	Output      json.RawMessage `json:"output"`
}

// Error is one failed attempt of a job.
type Error struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// Of describes a River job row.
func Of(job *rivertype.JobRow) Status {
	s := Status{
		ID: job.ID, Kind: job.Kind, Queue: job.Queue, State: string(job.State), Attempts: job.Attempt,
		MaxAttempts: job.MaxAttempts, CreatedAt: job.CreatedAt.UTC(), ScheduledAt: job.ScheduledAt.UTC(),
		AttemptedAt: utcOrNil(job.AttemptedAt), FinalizedAt: utcOrNil(job.FinalizedAt),
		Errors: make([]Error, 0, len(job.Errors)), Output: json.RawMessage("null"),
	}
	if o := OwnerOf(job); o != nil {
		s.AccountID = &o.AccountID
	}
	for _, e := range job.Errors {
		// The stack of a panic stays in River's table, for the operator.
		s.Errors = append(s.Errors, Error{Attempt: e.Attempt, At: e.At.UTC(), Error: stripeclient.Scrub(e.Error)})
	}
	if out := job.Output(); len(out) > 0 {
		s.Output = out
	}
	return s
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
