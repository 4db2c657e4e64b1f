package gateway

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/jobstatus"
	"github.com/appbackend/appbackend/stripeclient"
)

// Handler is the upstream API: durable jobs and Stripe calls for the upstream, which
// presents the upstream secret as a bearer token.
//
//	POST /v1/jobs               enqueue a job that calls the upstream
//	POST /v1/jobs/{id}/output   report a running job's progress (its output)
//	ANY  /v1/stripe/{path...}   call Stripe for an account
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/jobs", s.handleEnqueue)
	mux.HandleFunc("POST /v1/jobs/{id}/output", s.handleJobOutput)
	mux.HandleFunc("/v1/stripe/{path...}", s.handleStripe)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeNotFound, "no route for "+r.Method+" "+r.URL.Path))
	})
	want := []byte("Bearer " + s.deps.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			s.cfg.WriteError(w, r, apierror.New(apierror.CodeUnauthorized, "Authorization: Bearer <APPBACKEND_UPSTREAM_SECRET> required"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		mux.ServeHTTP(w, r)
	})
}

type enqueueRequest struct {
	Call      string          `json:"call"`
	AccountID string          `json:"account_id"`
	Livemode  *bool           `json:"livemode"`
	Body      json.RawMessage `json:"body"`
}

// handleEnqueue is POST /v1/jobs: a durable job that calls the upstream, owned by the
// account given, so that its UI can poll GET /api/jobs/{id}.
func (s *Service) handleEnqueue(w http.ResponseWriter, r *http.Request) {
	var req enqueueRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, "want a JSON object {\"call\",\"account_id\",\"livemode\",\"body\"}"))
		return
	}
	if _, _, err := ParseCall(req.Call); err != nil {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, err.Error()))
		return
	}
	var opts river.InsertOpts
	if req.AccountID != "" {
		meta, err := json.Marshal(map[string]jobstatus.Owner{jobstatus.MetadataKey: {AccountID: req.AccountID, Livemode: req.Livemode}})
		if err != nil {
			s.cfg.WriteError(w, r, err)
			return
		}
		opts.Metadata = meta
	}
	res, err := s.deps.River().Insert(r.Context(), JobArgs{Call: req.Call, Body: req.Body}, &opts)
	if err != nil {
		s.cfg.WriteError(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusCreated, map[string]string{"id": strconv.FormatInt(res.Job.ID, 10)})
}

// handleJobOutput is POST /v1/jobs/{id}/output: the body (JSON) becomes the job's
// output, which GET /api/jobs/{id} shows (progress while it runs).
func (s *Service) handleJobOutput(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeNotFound, "no such job"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, "the output must be JSON"))
		return
	}
	client := s.deps.River()
	job, err := client.JobGet(r.Context(), id)
	if errors.Is(err, river.ErrNotFound) || (err == nil && job.Kind != JobKind) {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeNotFound, "no such job"))
		return
	}
	if err != nil {
		s.cfg.WriteError(w, r, err)
		return
	}
	if _, err := client.JobUpdate(r.Context(), id, &river.JobUpdateParams{Output: json.RawMessage(body)}); err != nil {
		s.cfg.WriteError(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, map[string]string{"id": strconv.FormatInt(id, 10)})
}

// stripeAnswerHeaders are the headers of Stripe's answer that go back to the upstream.
var stripeAnswerHeaders = []string{"Content-Type", "Request-Id", "Idempotency-Key", "Stripe-Version", "Stripe-Should-Retry", "Retry-After"}

// handleStripe is ANY /v1/stripe/{path...}: a Stripe API call for the account and mode
// in Appbackend-Account-Id and Appbackend-Livemode, made with the credentials
// app.Stripe(ctx) uses for that account (its OAuth access token when it installed the
// app through OAuth, else the mode's key and Stripe-Account). The path goes to Stripe
// as sent, so it is checked as sent: dot-segments and encoded separators are refused,
// which a check of the decoded path would let through to another API path. Stripe's
// answer goes back as is.
func (s *Service) handleStripe(w http.ResponseWriter, r *http.Request) {
	account := r.Header.Get(HeaderAccountID)
	if account == "" {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, "Appbackend-Account-Id is required: the acct_… id the call is for"))
		return
	}
	var mode stripeclient.Mode
	switch r.Header.Get(HeaderLivemode) {
	case "true":
		mode = stripeclient.Live
	case "false":
		mode = stripeclient.Test
	default:
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, "Appbackend-Livemode must be true or false"))
		return
	}
	path, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/stripe")
	if !ok || CheckPath(path, "/") != nil || strings.ContainsAny(mustUnescape(path), "?#") {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, "not a Stripe API path: "+ErrPath.Error()+", nor an encoded ? or #"))
		return
	}
	if s.deps.Clients == nil || !s.deps.Clients.Has(mode) {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeModeRequired, "no Stripe key is configured for this mode"))
		return
	}
	ctx := stripeclient.WithAccount(r.Context(), account, mode)
	sc, err := s.deps.Stripe(ctx)
	if errors.Is(err, stripeclient.ErrNoAccount) {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBadRequest, "Appbackend-Account-Id: "+stripeclient.Scrub(err.Error())))
		return
	}
	if err != nil {
		s.cfg.WriteError(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.cfg.WriteError(w, r, apierror.New(apierror.CodeBodyTooLarge, "request body too large"))
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
		s.cfg.WriteError(w, r, err)
		return
	}
	defer resp.Body.Close()
	for _, k := range stripeAnswerHeaders {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// mustUnescape decodes a path that CheckPath accepted (so it decodes).
func mustUnescape(p string) string {
	s, _ := url.PathUnescape(p)
	return s
}
