// Package sqlstore implements the store interfaces in SQL that both SQLite and
// PostgreSQL accept, so that each adapter only opens its database, applies its
// migrations and picks its [Dialect].
//
// Queries are written once with ? placeholders and rewritten for the dialect when a
// [Queries] is built. Times are stored as integer microseconds since the Unix epoch
// (BIGINT on PostgreSQL) and Stripe's created as integer seconds, so that ordering and
// scanning are the same on both databases; booleans are bound as Go bools.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// Dialect is what differs between the databases in these queries.
type Dialect struct {
	// Placeholder returns the n-th (1-based) bind parameter: "?" or "$n".
	Placeholder func(n int) string
	// LockRow is appended to a SELECT that must lock its row until the transaction
	// ends: " FOR UPDATE" on PostgreSQL, "" on SQLite, whose write transactions
	// already hold the database's one write lock.
	LockRow string
	// LockKey is a statement that takes a lock on its one text argument until the
	// transaction ends, whether or not a row exists for it yet (FOR UPDATE locks only
	// rows that exist): a transaction-scoped advisory lock on PostgreSQL; empty on
	// SQLite, where write transactions take turns anyway.
	LockKey string
	// Bytewise follows a text expression that must compare byte by byte, as Go
	// compares strings, whatever the database's collation.
	Bytewise string
	// LockInstallations, when set, makes a transaction's later reads of the
	// installations table see no concurrent change until it ends (PostgreSQL's READ
	// COMMITTED would let a lifecycle event commit between two statements).
	LockInstallations string
	// NowMicros is the database clock in microseconds since the Unix epoch, for the
	// heartbeats of processes whose own clocks may differ.
	NowMicros string
	// LastAttemptedBy is the River client id of a river_job row's latest attempt.
	LastAttemptedBy string
	// AttemptedAgo compares a running river_job row's fetch time with now (database
	// clock) less ? seconds; it is completed by "<".
	AttemptedAgo func(op string) string
	// AppendJobError appends the AttemptError JSON bound to ? to a river_job row's
	// errors, with the row's attempt filled in.
	AppendJobError string
	// TableExists is a query with one row when the table named by ? exists.
	TableExists string
	// JobArgs reads a river_job row's args as JSON text.
	JobArgs string
	// SkipLocked ends a SELECT that locks its rows but passes over those other
	// transactions hold: " FOR UPDATE SKIP LOCKED" on PostgreSQL; "" on SQLite, whose
	// writers take turns.
	SkipLocked string
	// InJobIDs tests a river_job row's id against a list bound to one ?, which
	// JobIDList encodes.
	InJobIDs  string
	JobIDList func(ids []int64) any
	// InIDs tests id against a list of ids bound to one ?, which IDList encodes: one
	// statement text whatever the list's length, so that it is prepared once.
	InIDs  string
	IDList func(ids []string) any
	// RecheckTombstones: an inserted event is checked against the tombstones again in
	// a later statement (see Queries.DropTombstonedTx): PostgreSQL's READ COMMITTED
	// lets a concurrent prune's tombstone be invisible to the insert's own statement.
	// SQLite's writers take turns, so its insert sees every committed tombstone.
	RecheckTombstones bool
	// IndexedBy follows a table name in FROM to make the query use the named index:
	// SQLite's planner, without statistics, prefers the (status, received_at) index to
	// a partial index for "status = ? AND processed_at < ? ORDER BY processed_at" and
	// then reads every processed event to sort them, once per prune batch. Empty on
	// PostgreSQL, whose planner picks the partial index itself.
	IndexedBy func(index string) string
}

// SQLite is the dialect of SQLite.
var SQLite = Dialect{
	Placeholder:     func(int) string { return "?" },
	NowMicros:       `CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)`,
	LastAttemptedBy: `json_extract(attempted_by, '$[#-1]')`,
	// julianday reads both the formats River writes its times in.
	AttemptedAgo: func(op string) string {
		return `julianday(attempted_at) ` + op + ` julianday('now') - ? / 86400.0`
	},
	AppendJobError: `errors = jsonb(json_insert(json(coalesce(errors, jsonb('[]'))), '$[#]', json_set(?, '$.attempt', attempt)))`,
	TableExists:    `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`,
	InIDs:          `id IN (SELECT value FROM json_each(?))`,
	JobArgs:        `json(args)`,
	InJobIDs:       `id IN (SELECT value FROM json_each(?))`,
	IndexedBy:      func(index string) string { return " INDEXED BY " + index },
	JobIDList: func(ids []int64) any {
		b, _ := json.Marshal(ids) // integers always encode
		return string(b)
	},
	IDList: func(ids []string) any {
		b, _ := json.Marshal(ids) // strings always encode
		return string(b)
	},
}

// PostgreSQL is the dialect of PostgreSQL.
var PostgreSQL = Dialect{
	Placeholder:       func(n int) string { return "$" + strconv.Itoa(n) },
	LockRow:           " FOR UPDATE",
	LockKey:           `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`,
	Bytewise:          ` COLLATE "C"`,
	LockInstallations: `LOCK TABLE appbackend_installations IN SHARE MODE`,
	NowMicros:         `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`,
	LastAttemptedBy:   `attempted_by[array_upper(attempted_by, 1)]`,
	AttemptedAgo: func(op string) string {
		return `attempted_at ` + op + ` clock_timestamp() - make_interval(secs => ?)`
	},
	AppendJobError: `errors = array_append(errors, jsonb_set(CAST(? AS jsonb), '{attempt}', to_jsonb(attempt)))`,
	TableExists:    `SELECT 1 WHERE to_regclass(?) IS NOT NULL`,
	InIDs:          `id = ANY(CAST(? AS text[]))`,
	JobArgs:        `args`,
	SkipLocked:     ` FOR UPDATE SKIP LOCKED`,
	InJobIDs:       `id = ANY(CAST(? AS bigint[]))`,
	JobIDList:      func(ids []int64) any { return ids },
	IDList:         func(ids []string) any { return ids },

	RecheckTombstones: true,
	IndexedBy:         func(string) string { return "" },
}

// Queries implements [store.Settings], [store.Inbox] and [store.Installations] over
// two pools: write for transactions and writes, read for listings (on SQLite a
// separate pool lets listings run while the one writer is busy; pass the same pool
// twice where that does not matter). Statements are not prepared here: each
// connection keeps those it ran prepared (pgx's statement cache on PostgreSQL, the
// SQLite adapter's on SQLite), River's queries and the app's included.
type Queries struct {
	write, read *sql.DB
	d           Dialect
	now         func() time.Time

	rebound sync.Map // query text with ? → the dialect's text, for the dialects that differ
}

// New returns Queries over the given pools in dialect d.
func New(write, read *sql.DB, d Dialect) *Queries {
	return &Queries{write: write, read: read, d: d, now: time.Now}
}

func (q *Queries) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, q.rebind(query), args...)
}

func (q *Queries) queryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(ctx, q.rebind(query), args...)
}

func (q *Queries) queryRowTx(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	return tx.QueryRowContext(ctx, q.rebind(query), args...)
}

// rebind rewrites the ? placeholders of q for the dialect (Dialect.Rebind), keeping
// each text it rewrote.
func (q *Queries) rebind(query string) string {
	if !strings.Contains(query, "?") || q.d.Placeholder(1) == "?" {
		return query
	}
	if rebound, ok := q.rebound.Load(query); ok {
		return rebound.(string)
	}
	// The texts are the package's own, built from a fixed set of parts, so the map
	// stays small.
	r := q.d.Rebind(query)
	q.rebound.Store(query, r)
	return r
}

// Rebind rewrites the ? placeholders of query for the dialect: "$1", "$2", … on
// PostgreSQL, unchanged on SQLite. It is the repository's one rewriter: SQL written
// outside this package for both databases goes through it too. The query must hold no
// ? inside a string literal.
func (d Dialect) Rebind(query string) string {
	if d.Placeholder == nil || d.Placeholder(1) == "?" || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// listText stores a list of names as a JSON array; nil (never seen) is NULL, so that
// it reads back as nil and an empty list as an empty list.
func listText(list []string) sql.NullString {
	if list == nil {
		return sql.NullString{}
	}
	b, _ := json.Marshal(list) // strings always marshal
	return sql.NullString{String: string(b), Valid: true}
}

func textList(v sql.NullString) ([]string, error) {
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	list := []string{}
	if err := json.Unmarshal([]byte(v.String), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// Setting implements [store.Settings].
func (q *Queries) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := q.read.QueryRowContext(ctx, q.rebind(`SELECT value FROM appbackend_settings WHERE key = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %q: %w", key, err)
	}
	return v, true, nil
}

// PutSetting implements [store.Settings].
func (q *Queries) PutSetting(ctx context.Context, key, value string) error {
	_, err := q.write.ExecContext(ctx, q.rebind(`
		INSERT INTO appbackend_settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
		key, value, micros(q.now()))
	if err != nil {
		return fmt.Errorf("write setting %q: %w", key, err)
	}
	return nil
}

// PutSettingIfAbsent implements [store.Settings].
func (q *Queries) PutSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	_, err := q.write.ExecContext(ctx, q.rebind(`
		INSERT INTO appbackend_settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO NOTHING`), key, value, micros(q.now()))
	if err != nil {
		return "", fmt.Errorf("write setting %q: %w", key, err)
	}
	// Read back on the write pool: the read pool may not see the insert yet, and a
	// concurrent caller's value is what counts if it came first.
	var stored string
	err = q.write.QueryRowContext(ctx, q.rebind(`SELECT value FROM appbackend_settings WHERE key = ?`), key).Scan(&stored)
	if err != nil {
		return "", fmt.Errorf("read setting %q: %w", key, err)
	}
	return stored, nil
}

const insertEventSQL = `
	INSERT INTO appbackend_events
		(id, type, account_id, livemode, created, api_version, payload, status, attempts, not_installed, received_at)
	SELECT ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?
	WHERE NOT EXISTS (SELECT 1 FROM appbackend_event_tombstones WHERE id = ?)
	ON CONFLICT (id) DO NOTHING`

// InsertEventTx implements [store.Inbox].
func (q *Queries) InsertEventTx(ctx context.Context, tx *sql.Tx, ev *store.Event) (bool, error) {
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = q.now()
	}
	ev.ReceivedAt = ev.ReceivedAt.Truncate(time.Microsecond).UTC()
	ev.Status = store.EventPending
	raw := ev.Raw
	if raw == nil {
		raw = []byte{}
	}
	res, err := q.execTx(ctx, tx, insertEventSQL,
		ev.ID, ev.Type, ev.AccountID, ev.Livemode, ev.Created.Unix(), ev.APIVersion, raw, false, micros(ev.ReceivedAt), ev.ID)
	if err != nil {
		return false, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	if n == 1 && q.d.RecheckTombstones {
		gone, err := q.DropTombstonedTx(ctx, tx, []string{ev.ID})
		if err != nil {
			return false, fmt.Errorf("insert event %s: %w", ev.ID, err)
		}
		return len(gone) == 0, nil
	}
	return n == 1, nil
}

// DropTombstonedTx deletes, among the given ids just inserted in tx, those that have a
// tombstone, and returns them: they were duplicates after all. On PostgreSQL an
// insert's NOT EXISTS (tombstone) reads the snapshot its statement started with, and
// ON CONFLICT waits for a prune that is deleting the same id and then inserts over
// the deleted row: a redelivery that arrives while its event is being pruned would
// otherwise be stored and processed again. The tombstone was committed with that
// delete, so this later statement, with a new snapshot, sees it.
//
// The tombstones are looked up alone first, and the inbox only for the ids found:
// almost always there is none, and the inbox is not read at all. The earlier single
// statement (the inbox semi-joined with the tombstones) got, as the generic plan
// PostgreSQL settles on after five runs of a prepared statement, a walk of
// appbackend_events_status over every 'pending' entry, including the dead ones each
// processed event leaves until vacuum reaches it: under webhook load 30 % of
// PostgreSQL's statement time, more than any other statement.
func (q *Queries) DropTombstonedTx(ctx context.Context, tx *sql.Tx, ids []string) ([]string, error) {
	tombstoned, err := q.idsTx(ctx, tx, `SELECT id FROM appbackend_event_tombstones WHERE `+q.d.InIDs, q.d.IDList(ids))
	if err != nil || len(tombstoned) == 0 {
		return nil, err
	}
	return q.idsTx(ctx, tx, `DELETE FROM appbackend_events WHERE `+q.d.InIDs+` AND status = 'pending' RETURNING id`,
		q.d.IDList(tombstoned))
}

// idsTx runs a query of ids in tx (for DropTombstonedTx) and returns them.
func (q *Queries) idsTx(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := q.queryTx(ctx, tx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("recheck tombstones: %w", err)
	}
	defer rows.Close()
	var gone []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("recheck tombstones: %w", err)
		}
		gone = append(gone, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recheck tombstones: %w", err)
	}
	return gone, nil
}

const eventColumns = `id, type, account_id, livemode, created, api_version, status, attempts,
	last_error, not_installed, received_at, processed_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanEvent(r rowScanner, withRaw bool) (store.Event, error) {
	var (
		ev          store.Event
		created     int64
		status      string
		lastErr     sql.NullString
		receivedAt  int64
		processedAt sql.NullInt64
	)
	dest := []any{&ev.ID, &ev.Type, &ev.AccountID, &ev.Livemode, &created, &ev.APIVersion, &status, &ev.Attempts,
		&lastErr, &ev.NotInstalled, &receivedAt, &processedAt}
	if withRaw {
		dest = append(dest, &ev.Raw)
	}
	if err := r.Scan(dest...); err != nil {
		return store.Event{}, err
	}
	ev.Created = time.Unix(created, 0).UTC()
	ev.Status = store.EventStatus(status)
	ev.LastError = lastErr.String
	ev.ReceivedAt = fromMicros(receivedAt)
	ev.ProcessedAt = fromNullMicros(processedAt)
	return ev, nil
}

const loadEventSQL = `SELECT ` + eventColumns + `, payload FROM appbackend_events WHERE id = ?`

func (q *Queries) loadEventsSQL(withRaw bool) string {
	payload := ", payload"
	if !withRaw {
		payload = ""
	}
	return `SELECT ` + eventColumns + payload + ` FROM appbackend_events WHERE ` + q.d.InIDs + ` ORDER BY id` + q.d.LockRow
}

// EventsTx implements [store.Inbox]: one statement for the whole list, which on
// PostgreSQL is one round trip instead of one per event.
func (q *Queries) EventsTx(ctx context.Context, tx *sql.Tx, ids []string, withRaw bool) ([]store.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := q.queryTx(ctx, tx, q.loadEventsSQL(withRaw), q.d.IDList(ids))
	return scanEvents(rows, err, len(ids), withRaw)
}

// scanEvents reads the events of a query for n ids (rows and err as QueryContext
// returned them) and closes rows.
func scanEvents(rows *sql.Rows, err error, n int, withRaw bool) ([]store.Event, error) {
	if err != nil {
		return nil, fmt.Errorf("load %d events: %w", n, err)
	}
	defer rows.Close()
	evs := make([]store.Event, 0, n)
	for rows.Next() {
		ev, err := scanEvent(rows, withRaw)
		if err != nil {
			return nil, fmt.Errorf("load %d events: %w", n, err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load %d events: %w", n, err)
	}
	return evs, nil
}

func eventResult(ev store.Event, err error, id string) (store.Event, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return store.Event{}, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, fmt.Errorf("load event %s: %w", id, err)
	}
	return ev, nil
}

// Events implements [store.Inbox]: one statement on the read pool for the whole list,
// where Event would cost a round trip (and on SQLite a statement's fixed cost) each.
func (q *Queries) Events(ctx context.Context, ids []string) ([]store.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	query := `SELECT ` + eventColumns + `, payload FROM appbackend_events WHERE ` + q.d.InIDs + ` ORDER BY id`
	rows, err := q.read.QueryContext(ctx, q.rebind(query), q.d.IDList(ids))
	return scanEvents(rows, err, len(ids), true)
}

// Event implements [store.Inbox].
func (q *Queries) Event(ctx context.Context, id string) (store.Event, error) {
	ev, err := scanEvent(q.read.QueryRowContext(ctx, q.rebind(loadEventSQL), id), true)
	return eventResult(ev, err, id)
}

const (
	finishProcessedSQL = `
		UPDATE appbackend_events
		SET status = 'processed', attempts = attempts + 1, last_error = NULL, not_installed = ?, processed_at = ?
		WHERE id = ?`
	// dead_at is when the event died (NULL while it is only failed), from which
	// APPBACKEND_PROCESSED_RETENTION counts a dead event's time in the inbox.
	finishFailedSQL = `
		UPDATE appbackend_events SET status = ?, attempts = attempts + 1, last_error = ?, dead_at = ?
		WHERE id = ? AND status <> 'processed'`
)

func (q *Queries) finishProcessedManySQL() string {
	return `
		UPDATE appbackend_events
		SET status = 'processed', attempts = attempts + 1, last_error = NULL, not_installed = ?, processed_at = ?
		WHERE ` + q.d.InIDs
}

// FinishProcessedTx implements [store.Inbox]: one statement per value of
// NotInstalled instead of one per event.
func (q *Queries) FinishProcessedTx(ctx context.Context, tx *sql.Tx, done []store.ProcessedEvent) error {
	at := micros(q.now())
	for _, notInstalled := range []bool{false, true} {
		var ids []string
		for _, d := range done {
			if d.NotInstalled == notInstalled {
				ids = append(ids, d.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		res, err := q.execTx(ctx, tx, q.finishProcessedManySQL(), notInstalled, at, q.d.IDList(ids))
		if err != nil {
			return fmt.Errorf("finish %d events: %w", len(ids), err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("finish %d events: %w", len(ids), err)
		} else if n != int64(len(ids)) {
			return fmt.Errorf("finish %d events: %d found: %w", len(ids), n, store.ErrNotFound)
		}
	}
	return nil
}

// FinishEventTx implements [store.Inbox].
func (q *Queries) FinishEventTx(ctx context.Context, tx *sql.Tx, id string, out store.EventOutcome) error {
	if out.At.IsZero() {
		out.At = q.now()
	}
	var (
		res sql.Result
		err error
	)
	switch out.Status {
	case store.EventProcessed:
		res, err = q.execTx(ctx, tx, finishProcessedSQL, out.NotInstalled, micros(out.At), id)
	case store.EventFailed, store.EventDead:
		// A failure never overrides a success: a replayed copy of the job may have
		// processed the event while this attempt was failing.
		var deadAt sql.NullInt64
		if out.Status == store.EventDead {
			deadAt = sql.NullInt64{Int64: micros(out.At), Valid: true}
		}
		res, err = q.execTx(ctx, tx, finishFailedSQL, string(out.Status), nullText(out.Error), deadAt, id)
		if err == nil {
			return nil
		}
		return fmt.Errorf("finish event %s: %w", id, err)
	default:
		return fmt.Errorf("finish event %s: outcome status %q is not processed, failed or dead", id, out.Status)
	}
	return oneRow(res, err, "finish event "+id)
}

// ReplayEventTx implements [store.Inbox].
func (q *Queries) ReplayEventTx(ctx context.Context, tx *sql.Tx, id string) error {
	res, err := tx.ExecContext(ctx, q.rebind(`UPDATE appbackend_events SET status = 'pending' WHERE id = ?`), id)
	return oneRow(res, err, "replay event "+id)
}

func oneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// DeleteAccountEventsTx implements [store.Inbox]. The deleted events leave tombstones,
// as pruned ones do, so that a late retry of one is still a duplicate rather than a
// new event of an uninstalled account; the tombstones go in their turn (PruneEvents).
func (q *Queries) DeleteAccountEventsTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool, receivedBefore time.Time) (int64, error) {
	if _, err := tx.ExecContext(ctx, q.rebind(`
		INSERT INTO appbackend_event_tombstones (id, created)
		SELECT id, created FROM appbackend_events WHERE account_id = ? AND livemode = ? AND received_at < ?
		ON CONFLICT (id) DO NOTHING`),
		accountID, livemode, micros(receivedBefore)); err != nil {
		return 0, fmt.Errorf("delete events of %s: tombstones: %w", accountID, err)
	}
	res, err := tx.ExecContext(ctx, q.rebind(`
		DELETE FROM appbackend_events WHERE account_id = ? AND livemode = ? AND received_at < ?`),
		accountID, livemode, micros(receivedBefore))
	if err != nil {
		return 0, fmt.Errorf("delete events of %s: %w", accountID, err)
	}
	return res.RowsAffected()
}

// eventWhere is the WHERE clause (without the keyword; empty for none) and its
// arguments that select the events matching f.
func eventWhere(f store.EventFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.Livemode != nil {
		where, args = append(where, "livemode = ?"), append(args, *f.Livemode)
	}
	if !f.ReceivedSince.IsZero() {
		where, args = append(where, "received_at >= ?"), append(args, micros(f.ReceivedSince))
	}
	return strings.Join(where, " AND "), args
}

// ListEvents implements [store.Inbox].
func (q *Queries) ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error) {
	where, args := eventWhere(f)
	query := `SELECT ` + eventColumns + ` FROM appbackend_events`
	if where != "" {
		query += ` WHERE ` + where
	}
	query += ` ORDER BY received_at DESC, id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := q.read.QueryContext(ctx, q.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	events := []store.Event{}
	for rows.Next() {
		ev, err := scanEvent(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return events, nil
}

// CountMatchingEvents implements [store.Inbox].
func (q *Queries) CountMatchingEvents(ctx context.Context, f store.EventFilter) (int, error) {
	where, args := eventWhere(f)
	query := `SELECT COUNT(*) FROM appbackend_events`
	if where != "" {
		query += ` WHERE ` + where
	}
	var n int
	if err := q.read.QueryRowContext(ctx, q.rebind(query), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// ReplayEventsTx implements [store.Inbox]. The batch is chosen and updated in one
// statement; the outer status test makes PostgreSQL skip a row another transaction
// changed meanwhile (it re-checks the updated row's WHERE), so only events that
// still matched are returned, and enqueued by the caller.
func (q *Queries) ReplayEventsTx(ctx context.Context, tx *sql.Tx, f store.EventFilter, after store.EventCursor, limit int) ([]string, store.EventCursor, error) {
	if f.Status == "" {
		return nil, after, errors.New("replay events: a status is required")
	}
	if limit <= 0 {
		return nil, after, errors.New("replay events: the batch size must be positive")
	}
	where, args := eventWhere(f)
	at := micros(after.ReceivedAt)
	if after.ReceivedAt.IsZero() {
		at = math.MinInt64
	}
	query := `UPDATE appbackend_events SET status = 'pending'
		WHERE status = ? AND id IN (SELECT id FROM appbackend_events
			WHERE ` + where + ` AND (received_at > ? OR (received_at = ? AND id` + q.d.Bytewise + ` > ?))
			ORDER BY received_at, id` + q.d.Bytewise + ` LIMIT ?)
		RETURNING id, received_at`
	args = append([]any{string(f.Status)}, args...)
	args = append(args, at, at, after.ID, limit)
	rows, err := q.queryTx(ctx, tx, query, args...)
	if err != nil {
		return nil, after, fmt.Errorf("replay events: %w", err)
	}
	defer rows.Close()
	var got []store.EventCursor
	for rows.Next() {
		var (
			c  store.EventCursor
			us int64
		)
		if err := rows.Scan(&c.ID, &us); err != nil {
			return nil, after, fmt.Errorf("replay events: %w", err)
		}
		c.ReceivedAt = fromMicros(us)
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("replay events: %w", err)
	}
	// RETURNING has no order; the walk's is (received time, id), compared as Go does.
	slices.SortFunc(got, func(a, b store.EventCursor) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ids := make([]string, len(got))
	for i, c := range got {
		ids[i] = c.ID
	}
	if len(got) > 0 {
		after = got[len(got)-1]
	}
	return ids, after, nil
}

// CountEvents implements [store.Inbox].
func (q *Queries) CountEvents(ctx context.Context) (map[store.EventStatus]int, error) {
	rows, err := q.read.QueryContext(ctx, `SELECT status, COUNT(*) FROM appbackend_events GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	counts := map[store.EventStatus]int{}
	for rows.Next() {
		var (
			status string
			n      int
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		counts[store.EventStatus(status)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	return counts, nil
}

const installationColumns = `account_id, livemode, status, application_id, display_name, installed_at,
	uninstalled_at, last_event_created, last_event_id, updated_at,
	install_id, permissions_granted, permissions_pending, approval_required`

func scanInstallation(r rowScanner) (store.Installation, error) {
	var (
		in                       store.Installation
		status                   string
		appID, displayName       sql.NullString
		installedAt, uninstalled sql.NullInt64
		lastCreated, updatedAt   int64
		installID                sql.NullString
		granted, pending         sql.NullString
	)
	err := r.Scan(&in.AccountID, &in.Livemode, &status, &appID, &displayName, &installedAt,
		&uninstalled, &lastCreated, &in.LastEventID, &updatedAt,
		&installID, &granted, &pending, &in.ApprovalRequired)
	if err != nil {
		return store.Installation{}, err
	}
	in.InstallID = installID.String
	if in.PermissionsGranted, err = textList(granted); err != nil {
		return store.Installation{}, fmt.Errorf("permissions_granted: %w", err)
	}
	if in.PermissionsPending, err = textList(pending); err != nil {
		return store.Installation{}, fmt.Errorf("permissions_pending: %w", err)
	}
	in.Status = store.InstallStatus(status)
	in.ApplicationID = appID.String
	in.DisplayName = displayName.String
	in.InstalledAt = fromNullMicros(installedAt)
	in.UninstalledAt = fromNullMicros(uninstalled)
	in.LastEventCreated = time.Unix(lastCreated, 0).UTC()
	in.UpdatedAt = fromMicros(updatedAt)
	return in, nil
}

func (q *Queries) loadInstallationSQL(lock string) string {
	return `SELECT ` + installationColumns + ` FROM appbackend_installations WHERE account_id = ? AND livemode = ?` + lock
}

func installationResult(in store.Installation, err error, accountID string, livemode bool) (store.Installation, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return store.Installation{}, fmt.Errorf("installation of %s (%s): %w", accountID, modeName(livemode), store.ErrNotFound)
	}
	if err != nil {
		return store.Installation{}, fmt.Errorf("load installation of %s (%s): %w", accountID, modeName(livemode), err)
	}
	return in, nil
}

func modeName(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}

// LockInstallationTx implements [store.Installations].
func (q *Queries) LockInstallationTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (store.Installation, error) {
	if q.d.LockKey != "" {
		if _, err := q.execTx(ctx, tx, q.d.LockKey, installationLockKey(accountID, livemode)); err != nil {
			return store.Installation{}, fmt.Errorf("lock installation of %s (%s): %w", accountID, modeName(livemode), err)
		}
	}
	in, err := scanInstallation(q.queryRowTx(ctx, tx, q.loadInstallationSQL(q.d.LockRow), accountID, livemode))
	return installationResult(in, err, accountID, livemode)
}

// installationLockKey names the lock of one installation; the prefix keeps it apart
// from other users of the same lock space.
func installationLockKey(accountID string, livemode bool) string {
	return "appbackend.installation:" + modeName(livemode) + ":" + accountID
}

// InstallationTx implements [store.Installations].
func (q *Queries) InstallationTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (store.Installation, error) {
	in, err := scanInstallation(q.queryRowTx(ctx, tx, q.loadInstallationSQL(""), accountID, livemode))
	return installationResult(in, err, accountID, livemode)
}

// Installation implements [store.Installations].
func (q *Queries) Installation(ctx context.Context, accountID string, livemode bool) (store.Installation, error) {
	row := q.read.QueryRowContext(ctx, q.rebind(q.loadInstallationSQL("")), accountID, livemode)
	in, err := scanInstallation(row)
	return installationResult(in, err, accountID, livemode)
}

// putInstallationSQL replaces an installation only with the state of the same or a
// newer event, so that an older event's write can never undo a newer one, whatever
// the order in which transactions commit.
func (q *Queries) putInstallationSQL() string {
	return `
	INSERT INTO appbackend_installations (` + installationColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (account_id, livemode) DO UPDATE SET
		install_id = excluded.install_id, permissions_granted = excluded.permissions_granted,
		permissions_pending = excluded.permissions_pending, approval_required = excluded.approval_required,
		status = excluded.status, application_id = excluded.application_id,
		display_name = excluded.display_name, installed_at = excluded.installed_at,
		uninstalled_at = excluded.uninstalled_at, last_event_created = excluded.last_event_created,
		last_event_id = excluded.last_event_id, updated_at = excluded.updated_at
	WHERE appbackend_installations.last_event_created < excluded.last_event_created
		OR (appbackend_installations.last_event_created = excluded.last_event_created
			AND appbackend_installations.last_event_id` + q.d.Bytewise + ` <= excluded.last_event_id` + q.d.Bytewise + `)`
}

// PutInstallationTx implements [store.Installations].
func (q *Queries) PutInstallationTx(ctx context.Context, tx *sql.Tx, in store.Installation) error {
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = q.now()
	}
	if in.Status != store.Installed && in.Status != store.Uninstalled && in.Status != store.ReauthorizationRequired {
		return fmt.Errorf("put installation of %s: status %q is not installed, uninstalled or reauthorization_required", in.AccountID, in.Status)
	}
	res, err := q.execTx(ctx, tx, q.putInstallationSQL(),
		in.AccountID, in.Livemode, string(in.Status), nullText(in.ApplicationID), nullText(in.DisplayName),
		nullMicros(in.InstalledAt), nullMicros(in.UninstalledAt), in.LastEventCreated.Unix(), in.LastEventID,
		micros(in.UpdatedAt), nullText(in.InstallID), listText(in.PermissionsGranted), listText(in.PermissionsPending),
		in.ApprovalRequired)
	if err != nil {
		return fmt.Errorf("put installation of %s (%s): %w", in.AccountID, modeName(in.Livemode), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("put installation of %s (%s): %w", in.AccountID, modeName(in.Livemode), err)
	}
	if n == 0 {
		return fmt.Errorf("put installation of %s (%s) from event %s: a newer event set it: %w",
			in.AccountID, modeName(in.Livemode), in.LastEventID, store.ErrStale)
	}
	return nil
}

// ListInstallations implements [store.Installations].
func (q *Queries) ListInstallations(ctx context.Context, f store.InstallationFilter) ([]store.Installation, error) {
	var (
		where []string
		args  []any
	)
	if f.AccountID != "" {
		where, args = append(where, "account_id = ?"), append(args, f.AccountID)
	}
	if f.Livemode != nil {
		where, args = append(where, "livemode = ?"), append(args, *f.Livemode)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	query := `SELECT ` + installationColumns + ` FROM appbackend_installations`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY account_id, livemode`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := q.read.QueryContext(ctx, q.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list installations: %w", err)
	}
	defer rows.Close()
	list := []store.Installation{}
	for rows.Next() {
		in, err := scanInstallation(rows)
		if err != nil {
			return nil, fmt.Errorf("list installations: %w", err)
		}
		list = append(list, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list installations: %w", err)
	}
	return list, nil
}

// PruneEvents implements [store.Inbox]. Each call is one transaction of a few
// statements over at most limit rows, so that the prune never holds SQLite's write
// lock (or PostgreSQL's row locks) for long: the webhook receiver's commits slip in
// between batches. The tombstones are written in the same transaction as the delete,
// so there is no moment when an acknowledged id is neither an event nor a tombstone.
func (q *Queries) PruneEvents(ctx context.Context, processedBefore, tombstonesBefore time.Time, limit int) (events, tombstones int64, err error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	cutoff := micros(processedBefore)
	err = store.InTx(ctx, q.write, func(tx *sql.Tx) error {
		var ids []string
		// Processed events by processing time, dead ones by the time they died; a
		// pending or failed event (still to be processed, perhaps running) is never
		// selected. Each select walks its partial index in order.
		for _, sel := range []string{
			`SELECT id FROM appbackend_events` + q.d.IndexedBy("appbackend_events_processed") +
				` WHERE status = 'processed' AND processed_at < ? ORDER BY processed_at LIMIT ?`,
			`SELECT id FROM appbackend_events` + q.d.IndexedBy("appbackend_events_dead") +
				` WHERE status = 'dead' AND dead_at < ? ORDER BY dead_at LIMIT ?`,
		} {
			if len(ids) >= limit {
				break
			}
			rows, err := q.queryTx(ctx, tx, sel+q.d.SkipLocked, cutoff, limit-len(ids))
			if err != nil {
				return fmt.Errorf("prune events: %w", err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("prune events: %w", err)
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("prune events: %w", err)
			}
		}
		if len(ids) > 0 {
			if _, err := q.execTx(ctx, tx, `
				INSERT INTO appbackend_event_tombstones (id, created)
				SELECT id, created FROM appbackend_events WHERE `+q.d.InIDs+`
				ON CONFLICT (id) DO NOTHING`, q.d.IDList(ids)); err != nil {
				return fmt.Errorf("prune events: tombstones: %w", err)
			}
			// The status is checked again: on PostgreSQL a replay may have committed
			// since the select (SQLite's writers take turns). By the primary key: SQLite
			// would otherwise walk the status index, every processed event, per batch.
			res, err := q.execTx(ctx, tx, `DELETE FROM appbackend_events`+q.d.IndexedBy("sqlite_autoindex_appbackend_events_1")+` WHERE `+q.d.InIDs+`
				AND status IN ('processed', 'dead')`, q.d.IDList(ids))
			if err != nil {
				return fmt.Errorf("prune events: %w", err)
			}
			if events, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("prune events: %w", err)
			}
		}
		res, err := q.execTx(ctx, tx, `DELETE FROM appbackend_event_tombstones WHERE id IN
			(SELECT id FROM appbackend_event_tombstones WHERE created < ? LIMIT ?)`, tombstonesBefore.Unix(), limit)
		if err != nil {
			return fmt.Errorf("prune tombstones: %w", err)
		}
		tombstones, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return events, tombstones, nil
}
