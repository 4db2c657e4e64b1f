// Package webhook receives Stripe's webhook events (POST /webhooks/stripe) into the
// inbox: it verifies the signature on the raw body, reads only the envelope, and
// answers 200 only once the event and its processing job are committed to disk.
//
// # Group commit
//
// With synchronous=FULL every commit waits for the disk, so one transaction per event
// would cap throughput at the disk's flush rate. Instead every request hands its
// event to one committer goroutine and waits; the committer takes everything queued
// (up to MaxBatch events), inserts it in ONE transaction — each event with
// INSERT … ON CONFLICT DO NOTHING, and a River job only for the rows actually
// inserted — commits once, and then answers every waiting request: 200, with
// "duplicate":true for an id already stored, or 503 for all of them if the commit
// failed, so that Stripe retries. While one batch commits the next one queues up, so
// batches grow with the load.
//
// Bad input is answered at once and stores nothing: a missing or bad signature is
// 400 (signature_missing, signature_invalid, signature_expired), a body over the
// limit 413 (body_too_large), a body that is not a JSON event with an id and a type
// 400 (bad_request), and so is one with a NUL (\u0000) in its id, type, account or
// api_version, which PostgreSQL cannot store (alone, so that it cannot fail the batch
// it would have joined). The api_version is stored, never checked.
//
// # Readiness
//
// A batch that fails because the database has no room (SQLITE_FULL, PostgreSQL's
// disk_full) makes [Receiver.WriteErr] report it, which GET /readyz answers 503 with,
// until a batch commits again or, while no webhook comes, a small probe write does.
package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/telemetry"
)

// SignatureVerifier checks a Stripe-Signature header against the raw body; an
// *appauth.Verifier built from the endpoint secrets is one. Errors wrapping
// appauth.ErrNotSigned, ErrTooOld or ErrTooNew get their own error codes.
type SignatureVerifier interface {
	VerifyPayload(header string, payload []byte) (time.Time, error)
}

// Appender stores events in the inbox and enqueues their processing in the caller's
// transaction, reporting which were new; *events.Processor is one.
type Appender interface {
	AppendTx(ctx context.Context, tx *sql.Tx, evs []*store.Event) (inserted []bool, err error)
}

// Defaults of [Config].
const (
	DefaultMaxBody       = 1 << 20
	DefaultMaxBatch      = 512
	DefaultCommitTimeout = 10 * time.Second
)

// Config configures a [Receiver]. The zero value is usable.
type Config struct {
	// Archetype is the App's logger and its clock, which dates received_at; nil
	// discards the logs and uses the real clock.
	Archetype *baseservice.Archetype
	// MaxBody is the largest body accepted, in bytes (default DefaultMaxBody).
	MaxBody int64
	// MaxBatch caps the events committed in one transaction (default DefaultMaxBatch).
	MaxBatch int
	// PerEventCommit commits every event in its own transaction, through the same
	// code path: the baseline that benchmarks compare group commit with.
	PerEventCommit bool
	// CommitTimeout bounds one batch's transaction (default DefaultCommitTimeout).
	CommitTimeout time.Duration
	// ObserveCommit, if set, is called after every batch (for metrics).
	ObserveCommit func(events int, took time.Duration, err error)
	// ObserveEvent, if set, is called for every event of a batch that committed: new,
	// or a duplicate of one already stored (for metrics).
	ObserveEvent func(ev store.Event, duplicate bool)
	// Tracing, if set, traces each batch's commit, under the events' requests.
	Tracing *telemetry.Tracing
}

// Receiver is the http.Handler of POST /webhooks/stripe.
type Receiver struct {
	baseservice.Base
	st       store.Store
	verifier SignatureVerifier
	appender Appender
	cfg      Config

	queue     chan *pending
	closeMu   sync.RWMutex
	closed    bool
	committed chan struct{} // closed when the committer has drained the queue and exited

	stats struct{ received, duplicates, batches, failed atomic.Int64 }
	// failLog bounds the log lines of failed batches (the committer's alone): when
	// the latest was written, and the failures since.
	failLog struct {
		at              time.Time
		batches, events int
	}

	// full is the disk-full state of the latest write: set by a batch that failed for
	// lack of space, cleared by one that committed or by a probe (see WriteErr).
	full struct {
		mu      sync.Mutex
		err     error     // the batch's error; nil while writes succeed
		since   time.Time // when the state was set
		tried   time.Time // the latest failed write (batch or probe)
		probing bool
	}
}

type pending struct {
	ev   store.Event
	done chan result
	span trace.SpanContext // the request's, when traced
}

type result struct {
	duplicate bool
	err       error
}

// NewReceiver returns a Receiver that verifies events with verifier and appends them
// to the inbox with app, in transactions on st. It starts the committer goroutine;
// [Receiver.Close] stops it.
func NewReceiver(st store.Store, verifier SignatureVerifier, app Appender, cfg Config) (*Receiver, error) {
	if st == nil || verifier == nil || app == nil {
		return nil, errors.New("webhook: NewReceiver needs a store, a signature verifier and an appender")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.PerEventCommit {
		cfg.MaxBatch = 1
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	r := &Receiver{
		st: st, verifier: verifier, appender: app, cfg: cfg,
		queue:     make(chan *pending, 4*cfg.MaxBatch),
		committed: make(chan struct{}),
	}
	r.Init(cfg.Archetype)
	go r.commitLoop()
	return r, nil
}

// Stats counts what the receiver did since it started.
type Stats struct {
	Received   int64 // events stored (new ids)
	Duplicates int64 // events acknowledged as already stored
	Batches    int64 // committed transactions
	Failed     int64 // events answered 503 because their batch failed
}

// Stats returns the receiver's counters.
func (r *Receiver) Stats() Stats {
	return Stats{
		Received:   r.stats.received.Load(),
		Duplicates: r.stats.duplicates.Load(),
		Batches:    r.stats.batches.Load(),
		Failed:     r.stats.failed.Load(),
	}
}

// Close stops accepting events (later requests get 503), commits what is queued and
// waits for the committer until ctx is done. Shut the HTTP server down first, so that
// no request is still on its way in. Close is safe to call more than once.
func (r *Receiver) Close(ctx context.Context) error {
	r.closeMu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.closeMu.Unlock()
	select {
	case <-r.committed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("webhook: drain queue: %w", ctx.Err())
	}
}

var errClosed = errors.New("webhook receiver is shutting down")

// submit queues p for the committer. It fails only once Close has begun.
func (r *Receiver) submit(ctx context.Context, p *pending) error {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		return errClosed
	}
	select {
	case r.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Receiver) commitLoop() {
	defer close(r.committed)
	batch := make([]*pending, 0, r.cfg.MaxBatch)
	for first := range r.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < r.cfg.MaxBatch {
			select {
			case p, ok := <-r.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		r.commit(batch)
	}
}

// commit stores a batch in one transaction and answers each of its requests.
func (r *Receiver) commit(batch []*pending) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CommitTimeout)
	defer cancel()
	endSpan := func(error) {}
	if r.cfg.Tracing != nil {
		ctx, endSpan = r.cfg.Tracing.StartCommit(ctx, len(batch), func(i int) (string, trace.SpanContext) { return batch[i].ev.ID, batch[i].span })
	}
	duplicate := make([]bool, len(batch))
	storeBatch := func() error {
		clear(duplicate)
		evs := make([]*store.Event, len(batch))
		for i, p := range batch {
			evs[i] = &p.ev
		}
		return store.InTx(ctx, r.st.DB(), func(tx *sql.Tx) error {
			inserted, err := r.appender.AppendTx(ctx, tx, evs)
			for i, ok := range inserted {
				duplicate[i] = !ok
			}
			return err
		})
	}
	err := storeBatch()
	if err != nil && ctx.Err() == nil {
		// Once more, at once: a pool's idle connection to a database that restarted
		// fails on first use, and the next one works. Safe even if the first commit
		// did land: the events are then duplicates and their jobs already committed.
		// (At debug: a retry that fails too is logged below, at most once a second.)
		r.Logger().Debug("webhook batch not stored; trying once more", "events", len(batch), "err", err)
		err = storeBatch()
	}
	endSpan(err)
	if r.cfg.ObserveCommit != nil {
		r.cfg.ObserveCommit(len(batch), time.Since(start), err)
	}
	r.noteWrite(err)
	if err != nil {
		r.stats.failed.Add(int64(len(batch)))
		// At most one line a second: while the database is full or away every batch
		// fails, and the line says how many failed batches it stands for.
		r.failLog.batches++
		r.failLog.events += len(batch)
		if now := time.Now(); now.Sub(r.failLog.at) >= time.Second {
			r.Logger().Error("webhook batch not stored; answering 503 so Stripe retries", "events", len(batch), "err", err,
				"failed_batches", r.failLog.batches, "failed_events", r.failLog.events)
			r.failLog.at, r.failLog.batches, r.failLog.events = now, 0, 0
		}
	} else {
		r.stats.batches.Add(1)
	}
	for i, p := range batch {
		if err == nil {
			if duplicate[i] {
				r.stats.duplicates.Add(1)
			} else {
				r.stats.received.Add(1)
			}
			if r.cfg.ObserveEvent != nil {
				r.cfg.ObserveEvent(p.ev, duplicate[i])
			}
		}
		p.done <- result{duplicate: duplicate[i], err: err}
	}
}

func badRequest(message string) error {
	return &apierror.Error{Code: apierror.CodeBadRequest, Message: message}
}

// signatureError maps a verification failure to the contract's codes (as appauth does
// for UI requests), with status 400 as webhook senders expect (401 is for UI requests).
func signatureError(err error) error {
	e := apierror.New(apierror.CodeSignatureInvalid, "no signature matches any webhook secret")
	if appauth.SignatureFailure(err) != "" {
		if ae, ok := errors.AsType[*apierror.Error](appauth.HTTPError(err)); ok {
			e = ae
		}
	}
	e.Status = http.StatusBadRequest
	return e
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		apierror.Write(w, req, r.Logger(), apierror.New(apierror.CodeMethodNotAllowed, "use POST"))
		return
	}
	if req.ContentLength > r.cfg.MaxBody {
		apierror.Write(w, req, r.Logger(), apierror.New(apierror.CodeBodyTooLarge, fmt.Sprintf("body is larger than %d bytes", r.cfg.MaxBody)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			apierror.Write(w, req, r.Logger(), apierror.New(apierror.CodeBodyTooLarge, fmt.Sprintf("body is larger than %d bytes", r.cfg.MaxBody)))
			return
		}
		apierror.Write(w, req, r.Logger(), badRequest("could not read the body"))
		return
	}
	if _, err := r.verifier.VerifyPayload(req.Header.Get("Stripe-Signature"), body); err != nil {
		apierror.Write(w, req, r.Logger(), signatureError(err))
		return
	}
	ev, err := parseEnvelope(bytes.TrimSpace(body), r.Now())
	if err != nil {
		apierror.Write(w, req, r.Logger(), badRequest(err.Error()))
		return
	}
	ev.Raw = body

	p := &pending{ev: ev, done: make(chan result, 1)}
	if r.cfg.Tracing != nil {
		telemetry.WebhookEvent(req.Context(), &ev)
		p.span = trace.SpanContextFromContext(req.Context())
	}
	if err := r.submit(req.Context(), p); err != nil {
		if errors.Is(err, errClosed) {
			apierror.Write(w, req, r.Logger(), apierror.New(apierror.CodeUnavailable, "shutting down; retry later"))
		}
		return // the client went away before its event was queued
	}
	var res result
	select {
	case res = <-p.done:
	case <-req.Context().Done():
		return // the client went away; the event may still commit, and a resend is a duplicate
	}
	if res.err != nil {
		apierror.Write(w, req, r.Logger(), apierror.New(apierror.CodeUnavailable, "the event could not be stored; retry later"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if res.duplicate {
		_, _ = io.WriteString(w, `{"received":true,"duplicate":true}`+"\n")
		return
	}
	_, _ = io.WriteString(w, `{"received":true}`+"\n")
}

// diskFull reports whether err is the database saying it has no room: SQLITE_FULL
// (primary code 13, from a full disk or max_page_count) or PostgreSQL's disk_full
// (SQLSTATE 53100). Read through the drivers' methods, so that this package does not
// depend on either driver.
func diskFull(err error) bool {
	if e, ok := errors.AsType[interface {
		error
		SQLState() string
	}](err); ok && e.SQLState() == "53100" {
		return true
	}
	if e, ok := errors.AsType[interface {
		error
		Code() int
	}](err); ok && e.Code()&0xff == 13 {
		return true
	}
	return false
}

// noteWrite records a write's outcome for WriteErr: a disk-full failure sets the
// state, a success clears it, another failure (the database away, a timeout) leaves
// it as it was: the ping of /readyz reports those.
func (r *Receiver) noteWrite(err error) {
	now := r.Now()
	r.full.mu.Lock()
	defer r.full.mu.Unlock()
	switch {
	case err == nil:
		if r.full.err != nil {
			r.Logger().Info("webhook events are stored again: the database has room", "full_for", now.Sub(r.full.since).Round(time.Second))
		}
		r.full.err = nil
	case diskFull(err):
		if r.full.err == nil {
			r.full.since = now
		}
		r.full.err, r.full.tried = err, now
	}
}

// ProbeEvery is how often, while the disk is full and no batch has tried, WriteErr
// tries a small write of its own: a server taken out of a load balancer's rotation
// for being unready gets no webhooks, so without it it would never turn ready again.
const ProbeEvery = 5 * time.Second

// probeKey is the setting the probe writes (its value: when).
const probeKey = "webhook.write_probe"

// WriteErr reports whether the inbox can be written, for GET /readyz: an error while
// the latest batch failed because the disk (or PostgreSQL's) is full, until a batch
// commits again; nil otherwise. It reads the outcome of the last commit rather than
// writing per call; only while the disk is full, and at most every ProbeEvery, it
// tries one small write itself, in the caller's goroutine.
func (r *Receiver) WriteErr(ctx context.Context) error {
	r.full.mu.Lock()
	err, since, tried := r.full.err, r.full.since, r.full.tried
	probe := err != nil && !r.full.probing && r.Now().Sub(tried) >= ProbeEvery
	if probe {
		r.full.probing = true
	}
	r.full.mu.Unlock()
	if err == nil {
		return nil
	}
	if probe {
		perr := r.st.PutSetting(ctx, probeKey, r.Now().UTC().Format(time.RFC3339Nano))
		r.full.mu.Lock()
		r.full.probing = false
		r.full.mu.Unlock()
		if perr == nil || diskFull(perr) {
			r.noteWrite(perr)
		}
		if perr == nil {
			return nil
		}
	}
	return &DiskFullError{Since: since, Err: err}
}

// DiskFullError is WriteErr's error: since when batches fail for lack of room, and the
// latest one's error (for the log; it is the database's message).
type DiskFullError struct {
	Since time.Time
	Err   error
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("the database has no room to store webhook events (full since %s): %v", e.Since.UTC().Format(time.RFC3339), e.Err)
}

func (e *DiskFullError) Unwrap() error { return e.Err }
