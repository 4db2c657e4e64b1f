package appbackend

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/jobstatus"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/stripeclient"
)

// registerUpstreamSchedules registers the config file's schedules: each run calls the
// upstream (New, before any other registration can take their names).
func (a *App) registerUpstreamSchedules() error {
	for _, s := range a.cfg.Gateway.Schedules {
		method, path, err := gateway.ParseCall(s.Call)
		if err != nil {
			return fmt.Errorf("%w: schedule %q: %v", ErrConfig, s.Name, err)
		}
		h := a.upstreamScheduleRun(s.Name, method, path)
		if s.PerAccount {
			err = a.sched.set.EveryAccount(s.Every, s.Name, h)
		} else {
			err = a.sched.set.Every(s.Every, s.Name, h)
		}
		// The file is the operator's input, not the app's code: an error, not a panic.
		if err != nil {
			return fmt.Errorf("%w: appbackend: %w", ErrConfig, err)
		}
	}
	return nil
}

// upstreamScheduleBody is what a schedule run POSTs to the upstream.
type upstreamScheduleBody struct {
	Schedule  string  `json:"schedule"`
	AccountID *string `json:"account_id"`
	Livemode  *bool   `json:"livemode"`
	Slot      string  `json:"slot"`
	Missed    int     `json:"missed"`
}

func (a *App) upstreamScheduleRun(name, method, path string) func(context.Context, Run) error {
	return func(ctx context.Context, run Run) error {
		body := upstreamScheduleBody{Schedule: name, Slot: run.Slot.UTC().Format(time.RFC3339), Missed: run.Missed}
		if run.AccountID != "" {
			account, live := run.AccountID, run.Livemode
			body.AccountID, body.Livemode = &account, &live
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		// The run's job id: unique per run, the same on its retries.
		_, err = a.gateway.Deliver(ctx, gateway.Call{Method: method, Path: path, ID: "run_" + strconv.FormatInt(run.JobID, 10), Body: raw})
		return err
	}
}

// openGateway builds the gateway once the secrets are known (--dev may have made one).
func (a *App) openGateway() error {
	g := a.cfg.Gateway
	if g.Upstream == "" {
		return nil
	}
	gw, err := gateway.New(gateway.Config{Upstream: g.Upstream, Secret: g.Secret, Timeout: g.Timeout, WriteError: a.writeError})
	if err != nil {
		return fmt.Errorf("%w: APPBACKEND_UPSTREAM_SECRET: %v", ErrConfig, err)
	}
	a.gateway = gw
	return nil
}

// startGateway registers the worker of the upstream's jobs.
func (a *App) startGateway(proc *events.Processor) error {
	if a.gateway == nil {
		return nil
	}
	if err := runtime.AddWorker(a.rt, &upstreamJobWorker{app: a}); err != nil {
		return fmt.Errorf("register upstream job worker: %w", err)
	}
	return nil
}

// eventDelivery is the processor's delivery step in gateway mode (events.Config.Deliver),
// nil without an upstream.
func (a *App) eventDelivery() func(ctx context.Context, ev *store.Event) error {
	if a.gateway == nil {
		return nil
	}
	return a.deliverEvent
}

// deliverEvent POSTs the event, exactly as Stripe sent it, to the upstream's events
// path, before the event's processing transaction (so that a slow upstream holds no
// database lock). Anything but a 2xx fails the event, which is retried with the
// event's backoff and then dead, like a failing Go handler.
func (a *App) deliverEvent(ctx context.Context, ev *store.Event) error {
	h := http.Header{gateway.HeaderLivemode: {strconv.FormatBool(ev.Livemode)}}
	if ev.AccountID != "" {
		h[gateway.HeaderAccountID] = []string{ev.AccountID}
	}
	// The account's state once this event is processed, which happens right after.
	status, ok, err := a.lifecycle.StatusAfter(ctx, ev)
	if err != nil {
		return err
	}
	if ok {
		h[gateway.HeaderInstallation] = []string{string(status)}
	}
	_, err = a.gateway.Deliver(ctx, gateway.Call{Method: http.MethodPost, Path: a.cfg.Gateway.EventsPath, ID: ev.ID, Body: ev.Raw, Header: h})
	return err
}

// mustUnescape decodes a path that gateway.CheckPath accepted (so it decodes).
func mustUnescape(p string) string {
	s, _ := url.PathUnescape(p)
	return s
}

// upstreamJobArgs is a job the upstream enqueued with POST /v1/jobs.
type upstreamJobArgs struct {
	Call string          `json:"call"`
	Body json.RawMessage `json:"body,omitempty"`
}

func (upstreamJobArgs) Kind() string { return "appbackend.upstream_call" }

// RerunAfterCrash implements runtime.Rerunnable: the upstream dedupes a repeated call
// on its stable webhook-id.
func (upstreamJobArgs) RerunAfterCrash() bool { return true }

// upstreamJobBody is what a job POSTs to the upstream at each attempt.
type upstreamJobBody struct {
	ID        string          `json:"id"`
	AccountID *string         `json:"account_id"`
	Livemode  *bool           `json:"livemode"`
	Attempt   int             `json:"attempt"`
	Body      json.RawMessage `json:"body"`
}

type upstreamJobWorker struct {
	river.WorkerDefaults[upstreamJobArgs]
	app *App
}

// Work calls the upstream; a 2xx completes the job, with the answer as its output when
// it is JSON; anything else retries it with backoff.
func (w *upstreamJobWorker) Work(ctx context.Context, job *river.Job[upstreamJobArgs]) error {
	method, path, err := gateway.ParseCall(job.Args.Call)
	if err != nil {
		return river.JobCancel(err)
	}
	id := strconv.FormatInt(job.ID, 10)
	body := upstreamJobBody{ID: id, Attempt: job.Attempt, Body: job.Args.Body}
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
	ans, err := w.app.gateway.Deliver(ctx, gateway.Call{Method: method, Path: path, ID: id, Body: raw})
	if err != nil {
		return err
	}
	if out := strings.TrimSpace(string(ans.Body)); out != "" && json.Valid(ans.Body) {
		return river.RecordOutput(ctx, json.RawMessage(out))
	}
	return nil
}

// serveUpstreamAPI listens on the upstream API's address and serves it until the
// returned stop is called.
func (a *App) serveUpstreamAPI() (stop func(), err error) {
	if a.gateway == nil {
		return func() {}, nil
	}
	ln := a.cfg.Gateway.APIListener
	if ln == nil {
		if ln, err = net.Listen("tcp", a.cfg.Gateway.APIAddr); err != nil {
			return nil, fmt.Errorf("listen on %s (APPBACKEND_UPSTREAM_API_ADDR): %w", a.cfg.Gateway.APIAddr, err)
		}
	}
	api := a.upstreamAPI()
	if a.tel != nil {
		api = a.tel.Handler(api)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("upstream API listener", "err", err)
		}
	}()
	a.logger.Info("upstream API listening", "addr", "http://"+ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// upstreamAPI is the handler of the upstream API: durable jobs and Stripe calls for the
// upstream, which presents the upstream secret as a bearer token.
func (a *App) upstreamAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", a.handleUpstreamEnqueue)
	mux.HandleFunc("POST /v1/jobs/{id}/output", a.handleUpstreamJobOutput)
	mux.HandleFunc("/v1/stripe/{path...}", a.handleUpstreamStripe)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path))
	})
	want := []byte("Bearer " + a.cfg.Gateway.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			a.writeError(w, r, apierror.New(apierror.CodeUnauthorized, "Authorization: Bearer <APPBACKEND_UPSTREAM_SECRET> required"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
		mux.ServeHTTP(w, r)
	})
}

type upstreamEnqueueRequest struct {
	Call      string          `json:"call"`
	AccountID string          `json:"account_id"`
	Livemode  *bool           `json:"livemode"`
	Body      json.RawMessage `json:"body"`
}

// handleUpstreamEnqueue is POST /v1/jobs: a durable job that calls the upstream, owned
// by the account given, so that its UI can poll GET /api/jobs/{id}.
func (a *App) handleUpstreamEnqueue(w http.ResponseWriter, r *http.Request) {
	var req upstreamEnqueueRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, "want a JSON object {\"call\",\"account_id\",\"livemode\",\"body\"}"))
		return
	}
	if _, _, err := gateway.ParseCall(req.Call); err != nil {
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, err.Error()))
		return
	}
	var opts InsertOpts
	if req.AccountID != "" {
		meta, err := json.Marshal(map[string]jobstatus.Owner{jobstatus.MetadataKey: {AccountID: req.AccountID, Livemode: req.Livemode}})
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		opts.Metadata = meta
	}
	res, err := a.rt.River().Insert(r.Context(), upstreamJobArgs{Call: req.Call, Body: req.Body}, &opts)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]string{"id": strconv.FormatInt(res.Job.ID, 10)})
}

// handleUpstreamJobOutput is POST /v1/jobs/{id}/output: the body (JSON) becomes the
// job's output, which GET /api/jobs/{id} shows (progress while it runs).
func (a *App) handleUpstreamJobOutput(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "no such job"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, "the output must be JSON"))
		return
	}
	job, err := a.rt.River().JobGet(r.Context(), id)
	if errors.Is(err, river.ErrNotFound) || (err == nil && job.Kind != (upstreamJobArgs{}).Kind()) {
		a.writeError(w, r, apierror.New(apierror.CodeNotFound, "no such job"))
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if _, err := a.rt.River().JobUpdate(r.Context(), id, &river.JobUpdateParams{Output: json.RawMessage(body)}); err != nil {
		a.writeError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"id": strconv.FormatInt(id, 10)})
}

// handleUpstreamStripe is ANY /v1/stripe/{path...}: a Stripe API call for the account
// and mode in Appbackend-Account-Id and Appbackend-Livemode, made with the credentials
// app.Stripe(ctx) uses for that account (its OAuth access token when it installed the
// app through OAuth, else the mode's key and Stripe-Account). The path goes to Stripe
// as sent, so it is checked as sent: dot-segments and encoded separators are refused,
// which a check of the decoded path would let through to another API path. Stripe's
// answer goes back as is.
func (a *App) handleUpstreamStripe(w http.ResponseWriter, r *http.Request) {
	account := r.Header.Get(gateway.HeaderAccountID)
	if account == "" {
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, "Appbackend-Account-Id is required: the acct_… id the call is for"))
		return
	}
	var mode stripeclient.Mode
	switch r.Header.Get(gateway.HeaderLivemode) {
	case "true":
		mode = stripeclient.Live
	case "false":
		mode = stripeclient.Test
	default:
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, "Appbackend-Livemode must be true or false"))
		return
	}
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/stripe")
	if !ok || gateway.CheckPath(path, "/") != nil || strings.ContainsAny(mustUnescape(path), "?#") {
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, "not a Stripe API path: "+gateway.ErrPath.Error()+", nor an encoded ? or #"))
		return
	}
	if a.stripe == nil || !a.stripe.Has(mode) {
		a.writeError(w, r, apierror.New(apierror.CodeModeRequired, "no Stripe key is configured for this mode"))
		return
	}
	ctx := stripeclient.WithAccount(r.Context(), account, mode)
	sc, err := a.Stripe(ctx)
	if errors.Is(err, stripeclient.ErrNoAccount) {
		a.writeError(w, r, apierror.New(apierror.CodeBadRequest, "Appbackend-Account-Id: "+stripeclient.Scrub(err.Error())))
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.writeError(w, r, apierror.New(apierror.CodeBodyTooLarge, "request body too large"))
		return
	}
	resp, err := sc.Forward(ctx, stripeclient.ForwardRequest{
		Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Body: body,
		ContentType: r.Header.Get("Content-Type"), IdempotencyKey: r.Header.Get("Idempotency-Key"),
		StripeVersion: r.Header.Get("Stripe-Version"),
	})
	if err != nil {
		var ae *apierror.Error
		if !errors.As(err, &ae) {
			err = fmt.Errorf("%w (%v)", apierror.New(apierror.CodeUpstreamUnavailable, "the Stripe API is unreachable"), stripeclient.Scrub(err.Error()))
		}
		a.writeError(w, r, err)
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "Request-Id", "Idempotency-Key", "Stripe-Version", "Stripe-Should-Retry", "Retry-After"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
