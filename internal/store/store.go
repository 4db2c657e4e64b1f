package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// ErrNotFound is returned when a looked-up event, installation or setting does not exist.
var ErrNotFound = errors.New("not found")

// ErrStale is returned when a write carries state older than what the database holds
// (an installation set by an older lifecycle event than the one it records). The
// transaction should roll back; a retry sees the newer state.
var ErrStale = errors.New("older than the stored state")

// EventStatus is where an inbox event is in its processing.
type EventStatus string

// Event statuses. An event is pending from the moment it is acknowledged, failed while
// its processing is being retried, dead once the retries are exhausted, and processed
// once its handlers committed. Only a replay moves it back to pending.
const (
	EventPending   EventStatus = "pending"
	EventProcessed EventStatus = "processed"
	EventFailed    EventStatus = "failed"
	EventDead      EventStatus = "dead"
)

// Valid reports whether s is one of the four event statuses.
func (s EventStatus) Valid() bool {
	switch s {
	case EventPending, EventProcessed, EventFailed, EventDead:
		return true
	}
	return false
}

// Event is one Stripe event in the inbox: its envelope, its raw bytes as Stripe sent
// them, and its processing state.
type Event struct {
	ID         string
	Type       string
	AccountID  string // the connected (merchant) account; empty for the platform's own events
	Livemode   bool
	Created    time.Time // Stripe's created time (whole seconds)
	APIVersion string
	// Raw is the request body exactly as received. Listings leave it nil; [Inbox.Event]
	// and [Inbox.EventTx] load it.
	Raw []byte

	Status    EventStatus
	Attempts  int    // processing attempts so far, replays included
	LastError string // the error of the latest failed attempt; empty after a success
	// NotInstalled marks an event of an account that had no installation in the event's
	// mode when it was processed. Such events are kept and processed, not dropped.
	NotInstalled bool
	ReceivedAt   time.Time
	ProcessedAt  time.Time // zero until processed
}

// MarshalJSON writes the shape of `appbackend events --json`: RFC 3339 times, null for
// absent values, and no raw payload.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID           string      `json:"id"`
		Type         string      `json:"type"`
		AccountID    *string     `json:"account_id"`
		Livemode     bool        `json:"livemode"`
		Status       EventStatus `json:"status"`
		Attempts     int         `json:"attempts"`
		ReceivedAt   time.Time   `json:"received_at"`
		ProcessedAt  *time.Time  `json:"processed_at"`
		Created      time.Time   `json:"created"`
		APIVersion   *string     `json:"api_version"`
		LastError    *string     `json:"last_error"`
		NotInstalled bool        `json:"not_installed"`
	}{
		ID: e.ID, Type: e.Type, AccountID: nullString(e.AccountID), Livemode: e.Livemode,
		Status: e.Status, Attempts: e.Attempts, ReceivedAt: e.ReceivedAt,
		ProcessedAt: nullTime(e.ProcessedAt), Created: e.Created,
		APIVersion: nullString(e.APIVersion), LastError: nullString(e.LastError),
		NotInstalled: e.NotInstalled,
	})
}

// InstallStatus is the state of an app in one account and mode.
type InstallStatus string

// Installation statuses.
const (
	Installed   InstallStatus = "installed"
	Uninstalled InstallStatus = "uninstalled"
	// ReauthorizationRequired: an OAuth installation whose refresh token Stripe
	// refused (invalid_grant); the merchant must install again.
	ReauthorizationRequired InstallStatus = "reauthorization_required"
)

// Installation is the app's state in one account and one mode (live or test), as the
// latest lifecycle event (by created time, then event id) left it.
type Installation struct {
	AccountID     string
	Livemode      bool
	Status        InstallStatus
	ApplicationID string    // the ca_… id of the application, when the event carried it
	DisplayName   string    // the account's display name, when known
	InstalledAt   time.Time // zero if never seen installed
	UninstalledAt time.Time // zero unless uninstalled

	// From Stripe's Install object (apps.install events and the reconciliation of
	// GET /v1/apps/installs); empty until one was seen for this installation.
	// InstallID is the appinst_… id; PermissionsGranted are the permissions the
	// merchant approved, PermissionsPending those the app's latest version asks for
	// and the merchant has not approved yet; ApprovalRequired is Stripe's
	// approval_required (pending permissions, CSP entries or endpoints).
	InstallID          string
	PermissionsGranted []string
	PermissionsPending []string
	ApprovalRequired   bool

	// The lifecycle event that set this state; older events never override it.
	LastEventCreated time.Time
	LastEventID      string
	UpdatedAt        time.Time
}

// MarshalJSON writes the shape of `appbackend installations --json`.
func (i Installation) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccountID     string        `json:"account_id"`
		Livemode      bool          `json:"livemode"`
		Status        InstallStatus `json:"status"`
		InstalledAt   *time.Time    `json:"installed_at"`
		UninstalledAt *time.Time    `json:"uninstalled_at"`
		ApplicationID *string       `json:"application_id"`
		DisplayName   *string       `json:"display_name"`
		LastEventID   string        `json:"last_event_id"`
		UpdatedAt     time.Time     `json:"updated_at"`
		InstallID     *string       `json:"install_id"`
		// Lists are [] rather than null, so that a client can test their length.
		PermissionsGranted []string `json:"permissions_granted"`
		PermissionsPending []string `json:"permissions_pending"`
		ApprovalRequired   bool     `json:"approval_required"`
	}{
		AccountID: i.AccountID, Livemode: i.Livemode, Status: i.Status,
		InstalledAt: nullTime(i.InstalledAt), UninstalledAt: nullTime(i.UninstalledAt),
		ApplicationID: nullString(i.ApplicationID), DisplayName: nullString(i.DisplayName),
		LastEventID: i.LastEventID, UpdatedAt: i.UpdatedAt, InstallID: nullString(i.InstallID),
		PermissionsGranted: orEmpty(i.PermissionsGranted), PermissionsPending: orEmpty(i.PermissionsPending),
		ApprovalRequired: i.ApprovalRequired,
	})
}

// EventFilter selects events for a listing. Zero fields match everything.
type EventFilter struct {
	Status    EventStatus
	Type      string
	AccountID string
	Livemode  *bool
	// ReceivedSince, when set, keeps only events received at or after it.
	ReceivedSince time.Time
	// Limit caps the number of events returned; 0 returns them all. Events come newest
	// first (by received time, then id).
	Limit int
}

// EventCursor is a position in the inbox's (received time, id) order, for walking a
// bulk replay through the events in batches. The zero value is before every event.
type EventCursor struct {
	ReceivedAt time.Time
	ID         string
}

// InstallationFilter selects installations for a listing. Zero fields match everything.
type InstallationFilter struct {
	AccountID string
	Livemode  *bool
	Status    InstallStatus
	Limit     int // 0 returns them all; ordered by account id, then test before live
}

// ProcessedEvent is an event whose processing succeeded, for FinishProcessedTx.
type ProcessedEvent struct {
	ID           string
	NotInstalled bool
}

// EventOutcome is the result of one processing attempt, recorded by [Inbox.FinishEventTx].
type EventOutcome struct {
	Status       EventStatus // processed, failed or dead
	Error        string      // for failed and dead
	NotInstalled bool        // for processed
	At           time.Time
}

// Settings is a small key/value table for the server's own state (such as the secrets
// `serve --dev` generates).
type Settings interface {
	// Setting returns the value of key and whether it is set.
	Setting(ctx context.Context, key string) (string, bool, error)
	// PutSetting sets key to value, replacing any previous value.
	PutSetting(ctx context.Context, key, value string) error
	// PutSettingIfAbsent sets key to value unless it is set, and returns the value the
	// database now holds: value, or the one a concurrent caller (another replica)
	// stored first. Every caller thus agrees on one value.
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

// Inbox stores webhook events and their processing state.
type Inbox interface {
	// InsertEventTx inserts ev as pending unless an event with its id exists or was
	// pruned (a tombstone holds its id). It reports
	// whether it inserted; a duplicate id is not an error and changes nothing.
	InsertEventTx(ctx context.Context, tx *sql.Tx, ev *Event) (inserted bool, err error)
	// EventsTx loads the events of the given ids that exist, in id order, and locks
	// them for the rest of tx; withRaw loads their raw bytes too.
	EventsTx(ctx context.Context, tx *sql.Tx, ids []string, withRaw bool) ([]Event, error)
	// FinishProcessedTx records successful processing attempts of many events at once,
	// as FinishEventTx with status processed does for one; an unknown id is an error
	// wrapping ErrNotFound.
	FinishProcessedTx(ctx context.Context, tx *sql.Tx, done []ProcessedEvent) error
	// FinishEventTx records a processing attempt: it counts the attempt and sets the
	// outcome's status, error and (for processed) processed time. A failed or dead
	// outcome leaves an already processed event as it is.
	FinishEventTx(ctx context.Context, tx *sql.Tx, id string, out EventOutcome) error
	// ReplayEventTx moves an event back to pending (any status) so that a new job
	// processes it again. ErrNotFound if it does not exist.
	ReplayEventTx(ctx context.Context, tx *sql.Tx, id string) error
	// DeleteAccountEventsTx deletes an account's events in one mode received before
	// the given time, leaving tombstones as PruneEvents does, and returns how many it
	// deleted.
	DeleteAccountEventsTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool, receivedBefore time.Time) (int64, error)

	// PruneEvents deletes, in one short transaction, up to limit events processed
	// before processedBefore or dead since before that time, leaving each one's
	// id and created in the tombstones that keep it a duplicate for InsertEventTx; then
	// up to limit tombstones whose created is before tombstonesBefore. Pending and
	// failed events are never deleted. It returns how many events and tombstones it
	// deleted; call it again while either equals limit.
	PruneEvents(ctx context.Context, processedBefore, tombstonesBefore time.Time, limit int) (events, tombstones int64, err error)

	// Event loads one event with its raw bytes.
	Event(ctx context.Context, id string) (Event, error)
	// Events loads, with their raw bytes and outside any transaction, the events of
	// the given ids that exist, in id order (an unknown id is left out).
	Events(ctx context.Context, ids []string) ([]Event, error)
	// ListEvents lists events without their raw bytes.
	ListEvents(ctx context.Context, f EventFilter) ([]Event, error)
	// CountEvents counts events by status.
	CountEvents(ctx context.Context) (map[EventStatus]int, error)
	// CountMatchingEvents counts the events that match f (f.Limit is ignored).
	CountMatchingEvents(ctx context.Context, f EventFilter) (int, error)
	// ReplayEventsTx moves back to pending, in tx, up to limit events that match f
	// (whose Status is required; f.Limit is ignored) and come after the cursor in
	// (received time, id) order. It returns their ids oldest first and the cursor of
	// the last one; no ids means the walk is done (a batch may come back short when a
	// concurrent transaction changed some of its events). Walking by cursor
	// (not "the next limit that match") ends even when replayed events fail again
	// and match once more while the walk goes on.
	ReplayEventsTx(ctx context.Context, tx *sql.Tx, f EventFilter, after EventCursor, limit int) (ids []string, last EventCursor, err error)
}

// Installations stores the app's installation state per account and mode.
type Installations interface {
	// LockInstallationTx locks the installation of an account in one mode for the
	// rest of tx, and then loads it (ErrNotFound if none was ever recorded). The lock
	// holds also when the row does not exist yet, so two transactions that read an
	// installation and write it back take turns even for an account's first events:
	// the second reads what the first committed.
	LockInstallationTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (Installation, error)
	// InstallationTx loads the installation of an account in one mode in tx, without
	// locking it. ErrNotFound if none was ever recorded.
	InstallationTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (Installation, error)
	// PutInstallationTx inserts or replaces the installation of (AccountID, Livemode),
	// unless the stored one was set by a newer event (LastEventCreated, then
	// LastEventID): then it changes nothing and returns an error wrapping ErrStale.
	// Writing back the same event's state (a display name found later) is allowed.
	PutInstallationTx(ctx context.Context, tx *sql.Tx, in Installation) error

	// Installation loads the installation of an account in one mode.
	Installation(ctx context.Context, accountID string, livemode bool) (Installation, error)
	// ListInstallations lists installations.
	ListInstallations(ctx context.Context, f InstallationFilter) ([]Installation, error)
}

// Store is a database adapter: the inbox, installations, schedules and settings, plus
// what River needs to run its queue on the same database.
type Store interface {
	Settings
	Inbox
	Installations
	Schedules
	Processes
	InstallUses

	// DB is the pool for writes. Transactions begun on it are the *sql.Tx that the Tx
	// methods and River's InsertTx share. On SQLite it has one connection, so code
	// holding a transaction must not wait on another query outside it.
	DB() *sql.DB
	// ReadDB is the pool for reads outside a transaction, which a transaction held on
	// DB does not block: on SQLite read-only connections of their own (a write through
	// them fails), on PostgreSQL DB itself.
	ReadDB() *sql.DB
	// RiverDriver is the River driver over DB.
	RiverDriver() riverdriver.Driver[*sql.Tx]
	// Migrate applies appbackend's and River's pending migrations. Adapters also do it
	// when they open, unless told not to.
	Migrate(ctx context.Context) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close closes the database. Stop River before closing.
	Close() error
}

type txKey struct{}

// WithTx returns a context carrying tx, for handlers that write in the caller's
// transaction.
func WithTx(ctx context.Context, tx *sql.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

type memoKey struct{}

// WithTxMemo returns ctx with an empty memo for the transaction ctx carries: what a
// handler reads there and stays true until another handler of the same transaction
// changes it can be kept in it (the processor gives every job's transaction one, so
// that the built-in handler reads an account's installation once per job, not once
// per event). Whoever changes a memoized fact deletes its entry.
func WithTxMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, map[any]any{})
}

// TxMemo returns the memo of ctx's transaction, or nil when there is none (reading a
// nil map finds nothing; check for nil before writing).
func TxMemo(ctx context.Context) map[any]any {
	m, _ := ctx.Value(memoKey{}).(map[any]any)
	return m
}

// WithReadMemo returns ctx with an empty memo for reads made outside a transaction on
// behalf of one job (the gateway's delivery of a job's events reads each account's
// installation once, not once per event); it is safe for concurrent use. Such reads
// are no fresher than their first one, which is what a read outside the transaction
// that then processes the events promises anyway.
func WithReadMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, readMemoKey{}, &sync.Map{})
}

// ReadMemo returns ctx's read memo (WithReadMemo), or nil when there is none.
func ReadMemo(ctx context.Context) *sync.Map {
	m, _ := ctx.Value(readMemoKey{}).(*sync.Map)
	return m
}

type readMemoKey struct{}

// TxFrom returns the transaction an event handler or lifecycle hook runs in, or the
// one a job or schedule run begins on first use (WithLazyTx). Write to the database
// through it, and only through it, so that the writes commit exactly when the event is
// marked processed or the job completed. ok is false outside such a handler, and when
// a lazy transaction could not begin (the job then fails with that error).
func TxFrom(ctx context.Context) (tx *sql.Tx, ok bool) {
	if tx, ok = ctx.Value(txKey{}).(*sql.Tx); ok {
		return tx, true
	}
	if lazy, ok := ctx.Value(lazyTxKey{}).(*LazyTx); ok {
		tx, err := lazy.begin(ctx)
		return tx, err == nil
	}
	return nil, false
}

// InTx runs fn in a transaction on db and commits it if fn returns nil; an error or a
// panic rolls it back. Every transaction appbackend begins itself goes through here.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// OpenTxFrom returns the transaction ctx carries if one is open, without beginning a
// lazy one: for reads that may use the caller's transaction but must not start one.
func OpenTxFrom(ctx context.Context) (*sql.Tx, bool) {
	if tx, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return tx, true
	}
	if lazy, ok := ctx.Value(lazyTxKey{}).(*LazyTx); ok {
		if tx, err := lazy.Begun(); tx != nil && err == nil {
			return tx, true
		}
	}
	return nil, false
}

type lazyTxKey struct{}

// LazyTx is a transaction begun on db the first time TxFrom asks for it, so that a
// job that never writes through it holds none: on SQLite a transaction holds the
// database's one write lock until it ends.
type LazyTx struct {
	db  *sql.DB
	mu  sync.Mutex
	tx  *sql.Tx
	err error
}

// WithLazyTx returns a context whose TxFrom begins a transaction on db at first use.
// The caller ends it: Commit or Rollback.
func WithLazyTx(ctx context.Context, db *sql.DB) (context.Context, *LazyTx) {
	l := &LazyTx{db: db}
	return context.WithValue(ctx, lazyTxKey{}, l), l
}

func (l *LazyTx) begin(ctx context.Context) (*sql.Tx, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tx == nil && l.err == nil {
		l.tx, l.err = l.db.BeginTx(ctx, nil)
	}
	return l.tx, l.err
}

// Begun returns the transaction if one was begun, and the error if beginning it failed.
func (l *LazyTx) Begun() (*sql.Tx, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tx, l.err
}

// Begin returns the transaction, beginning it now if no one asked for it yet.
func (l *LazyTx) Begin(ctx context.Context) (*sql.Tx, error) { return l.begin(ctx) }

// Rollback rolls back the transaction if one was begun and is still open.
func (l *LazyTx) Rollback() {
	if tx, _ := l.Begun(); tx != nil {
		_ = tx.Rollback()
	}
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// DataObject decodes the event's data.object — the API object the event is about —
// into v. The event must have been loaded with its raw bytes (as handlers receive it).
func (e Event) DataObject(v any) error {
	if len(e.Raw) == 0 {
		return fmt.Errorf("event %s: raw payload not loaded", e.ID)
	}
	var envelope struct {
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(e.Raw, &envelope); err != nil {
		return fmt.Errorf("event %s: %w", e.ID, err)
	}
	if len(envelope.Data.Object) == 0 {
		return fmt.Errorf("event %s: no data.object", e.ID)
	}
	if err := json.Unmarshal(envelope.Data.Object, v); err != nil {
		return fmt.Errorf("event %s: data.object: %w", e.ID, err)
	}
	return nil
}
