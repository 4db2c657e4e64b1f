package gateway

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/jobstatus"
	"github.com/appbackend/appbackend/internal/runtime"
)

// JobKind is the River kind of the jobs the upstream enqueues (POST /v1/jobs). They
// rerun safely after a crash: the upstream dedupes on the call's stable webhook-id.
const JobKind = "appbackend.upstream_call"

// JobArgs is a job the upstream enqueued with POST /v1/jobs.
type JobArgs struct {
	Call string          `json:"call"`
	Body json.RawMessage `json:"body,omitempty"`
}

// Kind is JobKind.
func (JobArgs) Kind() string { return JobKind }

// jobBody is what a job POSTs to the upstream at each attempt.
type jobBody struct {
	ID        string          `json:"id"`
	AccountID *string         `json:"account_id"`
	Livemode  *bool           `json:"livemode"`
	Attempt   int             `json:"attempt"`
	Body      json.RawMessage `json:"body"`
}

// RerunAfterCrash implements runtime.Rerunnable: the upstream dedupes a repeated call
// on its stable webhook-id.
func (JobArgs) RerunAfterCrash() bool { return true }

// AddWorkers registers the worker of the upstream's jobs.
func (s *Service) AddWorkers(rt *runtime.Runtime) error {
	return runtime.AddWorker(rt, &jobWorker{svc: s})
}

type jobWorker struct {
	river.WorkerDefaults[JobArgs]
	svc *Service
}

// Work calls the upstream; a 2xx completes the job, with the answer as its output when
// it is JSON; anything else retries it with backoff.
func (w *jobWorker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	method, path, err := ParseCall(job.Args.Call)
	if err != nil {
		return river.JobCancel(err)
	}
	id := strconv.FormatInt(job.ID, 10)
	body := jobBody{ID: id, Attempt: job.Attempt, Body: job.Args.Body}
	if o := jobstatus.OwnerOf(job.JobRow); o != nil {
		body.AccountID, body.Livemode = &o.AccountID, o.Livemode
	}
	if len(body.Body) == 0 {
		body.Body = json.RawMessage("null")
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return river.JobCancel(err)
	}
	ans, err := w.svc.gw.Deliver(ctx, Call{Method: method, Path: path, ID: id, Body: raw})
	if err != nil {
		return err
	}
	if out := strings.TrimSpace(string(ans.Body)); out != "" && json.Valid(ans.Body) {
		return river.RecordOutput(ctx, json.RawMessage(out))
	}
	return nil
}
