package stripeclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
)

type ctxKey int

const (
	accountCtxKey ctxKey = iota
	idempotencyCtxKey
	jobCtxKey
	callCtxKey
)

type accountBinding struct {
	account string
	mode    Mode
}

// WithAccount returns a context that binds Stripe calls to account in mode. The façade
// puts it into an event handler's or a job's context (the event's account and
// livemode); Clients.FromContext reads it back.
func WithAccount(ctx context.Context, accountID string, mode Mode) context.Context {
	return context.WithValue(ctx, accountCtxKey, accountBinding{account: accountID, mode: mode})
}

// Bind binds ctx to what a handler, hook, job or schedule run acts for: the account in
// its mode (WithAccount; nothing when accountID is empty, the platform's own work),
// and the job (WithJob; nothing when jobID is 0), so that Stripe calls under it go to
// that merchant and a retried job repeats its writes under the same idempotency keys.
// Every flow binds its context through here.
func Bind(ctx context.Context, accountID string, livemode bool, jobID int64) context.Context {
	if jobID != 0 {
		ctx = WithJob(ctx, jobID)
	}
	if accountID != "" {
		ctx = WithAccount(ctx, accountID, ModeOf(livemode))
	}
	return ctx
}

// AccountFrom returns the account and mode WithAccount put into ctx.
func AccountFrom(ctx context.Context) (accountID string, mode Mode, ok bool) {
	b, ok := ctx.Value(accountCtxKey).(accountBinding)
	return b.account, b.mode, ok
}

// WithIdempotencyKey returns a context whose writes (POST and DELETE) carry key as their
// Idempotency-Key, unless the call's params set one. The key sent is
// Config.IdempotencyPrefix + key (in an App, a prefix kept with the database, such as
// "ab1f2e3d4c5b6-"): look for "<prefix>key" in Stripe's logs. Use one key per write: Stripe
// answers a second, different write under the same key with an idempotency error.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyCtxKey, key)
}

// IdempotencyKeyFrom returns the key WithIdempotencyKey or Step put into ctx.
func IdempotencyKeyFrom(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(idempotencyCtxKey).(string)
	return k, ok && k != ""
}

// maxIdempotencyKey is Stripe's limit on an Idempotency-Key.
const maxIdempotencyKey = 255

// JobKey is the idempotency key of one write in a job: the same job id and step give the
// same key, so a retried job repeats its writes under the keys of its first attempt and
// Stripe performs each once (within Stripe's 24-hour key window). Name the steps of a
// job that writes more than once ("customer", "invoice-item"): each write needs its own
// key. A key never exceeds Stripe's 255 characters: a long step is hashed.
func JobKey(jobID int64, step string) string {
	k := "appbackend-job-" + strconv.FormatInt(jobID, 10) + "-" + step
	if len(k) <= maxIdempotencyKey {
		return k
	}
	sum := sha256.Sum256([]byte(step))
	return "appbackend-job-" + strconv.FormatInt(jobID, 10) + "-h" + hex.EncodeToString(sum[:])
}

// job is the job attempt a context belongs to, with the count of unnamed writes so far.
type job struct {
	id int64

	mu     sync.Mutex
	writes map[string]int
}

// WithJob marks ctx as one attempt of job jobID. The job layer calls it on each attempt.
// Then:
//   - a write made under Step(ctx, name) carries JobKey(jobID, name);
//   - a write with no step named carries JobKey(jobID, "<METHOD> <path> #n"), n counting
//     the attempt's writes to that method and path. A job that makes its writes in the
//     same order on every attempt therefore repeats its keys without naming steps; a job
//     whose writes race or branch must name them with Step.
func WithJob(ctx context.Context, jobID int64) context.Context {
	return context.WithValue(ctx, jobCtxKey, &job{id: jobID})
}

// JobFrom returns the job id WithJob put into ctx.
func JobFrom(ctx context.Context) (jobID int64, ok bool) {
	j, ok := ctx.Value(jobCtxKey).(*job)
	if !ok {
		return 0, false
	}
	return j.id, true
}

// Step returns a context for one named write of the job in ctx: its Idempotency-Key is
// JobKey(jobID, step), the same on every attempt of the job. Outside a job, Step returns
// ctx unchanged and stripe-go gives each write a fresh random key.
//
//	cus, err := sc.V1Customers.Create(stripeclient.Step(ctx, "customer"), params)
func Step(ctx context.Context, step string) context.Context {
	j, ok := ctx.Value(jobCtxKey).(*job)
	if !ok {
		return ctx
	}
	return WithIdempotencyKey(ctx, JobKey(j.id, step))
}

// writeKey is the idempotency key for a write made under ctx, or "" to let stripe-go
// make a random one.
func writeKey(ctx context.Context, method, path string) string {
	if k, ok := IdempotencyKeyFrom(ctx); ok {
		return k
	}
	j, ok := ctx.Value(jobCtxKey).(*job)
	if !ok {
		return ""
	}
	target := method + " " + path
	j.mu.Lock()
	if j.writes == nil {
		j.writes = make(map[string]int)
	}
	j.writes[target]++
	n := j.writes[target]
	j.mu.Unlock()
	return JobKey(j.id, target+" #"+strconv.Itoa(n))
}

// call is what the bound backend tells its transport about one request.
type call struct {
	// account is the bound Stripe-Account; "" for a platform call.
	account  string
	platform bool
	// token, when set, makes the call with the account's OAuth access token instead of
	// the platform key and Stripe-Account.
	token TokenSource
	// state is what the transport saw, set per call by the backend.
	state *callState
}

// callState tells the backend how far a failed call got, to classify stripe-go's
// untyped errors: refused before any HTTP, lost on the network, or answered with a
// body stripe-go could not read.
type callState struct {
	reached atomic.Bool  // the transport received the request
	status  atomic.Int32 // the status of the answer handed back to stripe-go, if any
}

func withCall(ctx context.Context, c call) context.Context {
	return context.WithValue(ctx, callCtxKey, c)
}

func callFrom(ctx context.Context) (call, bool) {
	c, ok := ctx.Value(callCtxKey).(call)
	return c, ok
}
