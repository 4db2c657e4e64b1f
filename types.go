package appbackend

import (
	"context"
	"encoding/json"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/jobstatus"
	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// This file holds the types an app receives from appbackend — an event, an
// installation, a schedule run, a job's status — defined here rather than as aliases of
// the internal ones, so that their fields and constants are the documented public API
// and the internals can change without changing it. Each internal value becomes a
// public one at the edge, in the one conversion function of its type below; nothing
// else converts. The JSON of Event and Installation is the internal type's (the shape
// of `appbackend events --json` and `installations --json`, and of the admin API), so
// there is one shape for each.
//
// ErrorCode and Error stay aliases of the internal apierror types (see errors.go), as
// do River's types (JobArgs, InsertOpts, JobInsertResult, Job, Worker) and StripeClient.

// EventStatus is where an event is in its processing.
type EventStatus string

// The event statuses. An event is pending from the moment appbackend acknowledged it to
// Stripe, failed while its processing is being retried, dead once the retries are
// exhausted (until replayed: `appbackend events replay ID`), and processed once its
// handlers committed.
const (
	EventStatusPending   EventStatus = "pending"
	EventStatusProcessed EventStatus = "processed"
	EventStatusFailed    EventStatus = "failed"
	EventStatusDead      EventStatus = "dead"
)

// Event is a Stripe event from the inbox, as handlers receive it.
//
// ev.DataObject(&v) decodes data.object — the invoice, customer, … the event is
// about — into v. A thin event (an event destination's "v2.core.event"
// notification) reaches the handlers with Raw set to the full event fetched from
// Stripe before they run; decode it with ThinEvent.
//
// Its JSON is the shape of `appbackend events --json`: snake_case keys, RFC 3339 times,
// null for an absent account, time or error, and no raw payload.
type Event struct {
	// ID is Stripe's event id, "evt_…"; Type its type, "invoice.paid".
	ID   string
	Type string
	// AccountID is the connected account the event is about; "" for the platform's
	// own events.
	AccountID string
	Livemode  bool
	// Created is Stripe's created time, in whole seconds.
	Created    time.Time
	APIVersion string
	// Raw is the body exactly as Stripe sent it (for a thin event, the full event
	// fetched from Stripe).
	Raw []byte

	// Status is the event's processing state; a handler sees pending or failed.
	Status EventStatus
	// Attempts counts the processing attempts so far, replays included: 1 on the
	// first.
	Attempts int
	// LastError is the error of the latest failed attempt; "" after a success.
	LastError string
	// NotInstalled is true when the account had no installation in the event's mode
	// when the event was processed. Such events are processed, not dropped: an app may
	// ignore them.
	NotInstalled bool
	// ReceivedAt is when appbackend received the event; ProcessedAt when its handlers
	// committed, zero until then.
	ReceivedAt  time.Time
	ProcessedAt time.Time
}

// DataObject decodes the event's data.object — the API object the event is about —
// into v.
func (e Event) DataObject(v any) error { return e.store().DataObject(v) }

// MarshalJSON writes the shape of `appbackend events --json`.
func (e Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.store()) }

// InstallStatus is the state of the app in one account and mode.
type InstallStatus string

// The installation statuses.
const (
	InstallStatusInstalled   InstallStatus = "installed"
	InstallStatusUninstalled InstallStatus = "uninstalled"
	// InstallStatusReauthorizationRequired is an OAuth installation whose refresh
	// token Stripe refused (invalid_grant): calls on the account fail until the
	// merchant installs the app again.
	InstallStatusReauthorizationRequired InstallStatus = "reauthorization_required"
)

// Installation is the app's state in one account and one mode (live or test), as the
// latest lifecycle event (by Stripe's created time, then event id) or the
// reconciliation with Stripe's list of installs left it.
//
// Its JSON is the shape of `appbackend installations --json` and of each mode of
// GET /api/installation: snake_case keys, RFC 3339 times, null for an absent time or
// id, and [] rather than null for the permission lists.
type Installation struct {
	AccountID string
	Livemode  bool
	Status    InstallStatus
	// ApplicationID is the ca_… application, when the event carried it.
	ApplicationID string
	// DisplayName is the account's name, once looked up (a job does, after the
	// install, when the mode's key is configured).
	DisplayName string
	// InstalledAt is when the app was last installed, zero if never; UninstalledAt
	// when it was uninstalled, zero unless it is.
	InstalledAt   time.Time
	UninstalledAt time.Time

	// InstallID is Stripe's appinst_… install. It and the three fields below come
	// from Stripe's Install object (apps.install.* events and the reconciliation with
	// GET /v1/apps/installs) and are empty until one was seen for this installation.
	InstallID string
	// PermissionsGranted are the permissions the merchant approved.
	PermissionsGranted []string
	// PermissionsPending are those the app's latest version asks for and the merchant
	// has not approved yet: calls needing them fail until the merchant approves them
	// in the Dashboard (see App.ReauthorizeInstall).
	PermissionsPending []string
	// ApprovalRequired is Stripe's approval_required: the merchant must approve
	// pending access (permissions, CSP entries or endpoints).
	ApprovalRequired bool

	// LastEventCreated and LastEventID are the lifecycle event that set this state;
	// an older event never overrides it.
	LastEventCreated time.Time
	LastEventID      string
	// UpdatedAt is when this state was written.
	UpdatedAt time.Time
}

// MarshalJSON writes the shape of `appbackend installations --json`.
func (i Installation) MarshalJSON() ([]byte, error) { return json.Marshal(i.store()) }

// Run is one run of a schedule, as its handler (Every, EveryAccount) receives it.
type Run struct {
	// Name is the schedule's name.
	Name string
	// AccountID and Livemode are a per-account schedule's account and mode; "" and
	// false for a platform schedule.
	AccountID string
	Livemode  bool
	// Slot is the time the run is for: the spec's time, before the account's jitter.
	// A retry of the run has the same slot.
	Slot time.Time
	// Missed counts the earlier slots that came while nothing could run them (the
	// server was down) and are folded into this run: a missed slot runs once, late,
	// not once per slot.
	Missed int
	// Attempt is 1 on the first attempt and grows with each retry.
	Attempt int
	// JobID is the River job running the run; a Stripe write's idempotency key derives
	// from it, so that a retry repeats its writes under the same keys.
	JobID int64
}

// JobStatus is a job as GET /api/jobs/{id}, `appbackend jobs --json` and the test kit
// (appbackendtest.App.WaitForJob) show it:
//
//	{"id":12,"kind":"export","queue":"default","state":"completed","attempts":1,
//	 "max_attempts":8,"account_id":"acct_…","created_at":"…","scheduled_at":"…",
//	 "attempted_at":"…","finalized_at":"…","errors":[],"output":{…}}
type JobStatus struct {
	ID    int64  `json:"id"`
	Kind  string `json:"kind"`
	Queue string `json:"queue"`
	// State is River's: available, scheduled, running, retryable (failed, to be tried
	// again), completed, cancelled, discarded (out of attempts) or pending.
	State       string `json:"state"`
	Attempts    int    `json:"attempts"`
	MaxAttempts int    `json:"max_attempts"`
	// AccountID is the account the job was enqueued for; nil for the platform's jobs.
	AccountID   *string   `json:"account_id"`
	CreatedAt   time.Time `json:"created_at"`
	ScheduledAt time.Time `json:"scheduled_at"`
	// AttemptedAt is the start of the latest attempt, nil before the first;
	// FinalizedAt is set once the job is completed, cancelled or discarded.
	AttemptedAt *time.Time `json:"attempted_at"`
	FinalizedAt *time.Time `json:"finalized_at"`
	// Errors lists the failed attempts, oldest first, with the error each returned
	// (secrets scrubbed, no stack). The UI shows them: return errors whose text the
	// merchant may see (NewError).
	Errors []JobError `json:"errors"`
	// Output is what the worker recorded with river.RecordOutput; JSON null if
	// nothing.
	Output json.RawMessage `json:"output"`
}

// JobError is one failed attempt of a job.
type JobError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

// The conversions, one per type: internal values become public ones here and only
// here. Each copies every field; TestConversionsCopyEveryField fails when a field is
// added on either side and not here.

func eventFromStore(e store.Event) Event {
	return Event{
		ID: e.ID, Type: e.Type, AccountID: e.AccountID, Livemode: e.Livemode, Created: e.Created,
		APIVersion: e.APIVersion, Raw: e.Raw, Status: EventStatus(e.Status), Attempts: e.Attempts,
		LastError: e.LastError, NotInstalled: e.NotInstalled, ReceivedAt: e.ReceivedAt, ProcessedAt: e.ProcessedAt,
	}
}

// store is the inverse of eventFromStore, for the methods whose behaviour the internal
// type owns (its JSON, DataObject).
func (e Event) store() store.Event {
	return store.Event{
		ID: e.ID, Type: e.Type, AccountID: e.AccountID, Livemode: e.Livemode, Created: e.Created,
		APIVersion: e.APIVersion, Raw: e.Raw, Status: store.EventStatus(e.Status), Attempts: e.Attempts,
		LastError: e.LastError, NotInstalled: e.NotInstalled, ReceivedAt: e.ReceivedAt, ProcessedAt: e.ProcessedAt,
	}
}

func installationFromStore(in store.Installation) Installation {
	return Installation{
		AccountID: in.AccountID, Livemode: in.Livemode, Status: InstallStatus(in.Status),
		ApplicationID: in.ApplicationID, DisplayName: in.DisplayName,
		InstalledAt: in.InstalledAt, UninstalledAt: in.UninstalledAt,
		InstallID: in.InstallID, PermissionsGranted: in.PermissionsGranted,
		PermissionsPending: in.PermissionsPending, ApprovalRequired: in.ApprovalRequired,
		LastEventCreated: in.LastEventCreated, LastEventID: in.LastEventID, UpdatedAt: in.UpdatedAt,
	}
}

// store is the inverse of installationFromStore, for the JSON the internal type owns.
func (i Installation) store() store.Installation {
	return store.Installation{
		AccountID: i.AccountID, Livemode: i.Livemode, Status: store.InstallStatus(i.Status),
		ApplicationID: i.ApplicationID, DisplayName: i.DisplayName,
		InstalledAt: i.InstalledAt, UninstalledAt: i.UninstalledAt,
		InstallID: i.InstallID, PermissionsGranted: i.PermissionsGranted,
		PermissionsPending: i.PermissionsPending, ApprovalRequired: i.ApprovalRequired,
		LastEventCreated: i.LastEventCreated, LastEventID: i.LastEventID, UpdatedAt: i.UpdatedAt,
	}
}

func installationsFromStore(ins []store.Installation) []Installation {
	if ins == nil {
		return nil
	}
	out := make([]Installation, len(ins))
	for i, in := range ins {
		out[i] = installationFromStore(in)
	}
	return out
}

func runFromSchedule(r schedule.Run) Run {
	return Run{Name: r.Name, AccountID: r.AccountID, Livemode: r.Livemode, Slot: r.Slot,
		Missed: r.Missed, Attempt: r.Attempt, JobID: r.JobID}
}

// JobStatusOf describes a River job row as GET /api/jobs/{id} shows it: the account
// is the one Enqueue recorded, the errors' texts are scrubbed of secrets (a panic's
// stack stays in River's table, for the operator), and Output is JSON null when the
// worker recorded none. The CLI's `jobs` and the test kit's WaitForJob describe jobs
// with it too.
func JobStatusOf(job *rivertype.JobRow) JobStatus {
	s := JobStatus{
		ID: job.ID, Kind: job.Kind, Queue: job.Queue, State: string(job.State), Attempts: job.Attempt,
		MaxAttempts: job.MaxAttempts, CreatedAt: job.CreatedAt.UTC(), ScheduledAt: job.ScheduledAt.UTC(),
		AttemptedAt: utcOrNil(job.AttemptedAt), FinalizedAt: utcOrNil(job.FinalizedAt),
		Errors: make([]JobError, 0, len(job.Errors)), Output: json.RawMessage("null"),
	}
	if o := jobstatus.OwnerOf(job); o != nil {
		s.AccountID = &o.AccountID
	}
	for _, e := range job.Errors {
		s.Errors = append(s.Errors, JobError{Attempt: e.Attempt, At: e.At.UTC(), Error: stripeclient.Scrub(e.Error)})
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

// scheduleHandlerOf adapts a schedule handler an app registers to the internal Run it
// is called with.
func scheduleHandlerOf(h func(ctx context.Context, run Run) error) schedule.Handler {
	if h == nil {
		return nil // so that Every and EveryAccount see the nil and panic
	}
	return func(ctx context.Context, r schedule.Run) error { return h(ctx, runFromSchedule(r)) }
}
