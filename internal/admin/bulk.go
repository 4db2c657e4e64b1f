package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/store"
)

// Operations is what the dashboard does to the processing of many events at once;
// the event processor (events.Processor) does it. Any nil function answers 503 and
// hides its buttons.
type Operations struct {
	// ReplayMatching replays every event matching the filter (status failed or dead)
	// and returns how many.
	ReplayMatching func(ctx context.Context, f store.EventFilter) (int, error)
	// Pause and Resume stop and restart event processing on every replica.
	Pause  func(ctx context.Context) error
	Resume func(ctx context.Context) error
	// PauseState says whether processing is paused, and since when.
	PauseState func(ctx context.Context) (since time.Time, paused bool, err error)
}

// bulkReplay is the filter of a bulk replay, as the API's JSON body and the
// dashboard's form give it: the same names as `appbackend events replay`'s flags.
type bulkReplay struct {
	Status  string `json:"status"`
	Type    string `json:"type"`
	Account string `json:"account"`
	Since   string `json:"since"` // a Go duration: events received within it
	DryRun  bool   `json:"dry_run"`
}

// filter checks b and turns it into the store's filter, as of now.
func (b bulkReplay) filter(now time.Time) (store.EventFilter, error) {
	if b.Status != string(store.EventDead) && b.Status != string(store.EventFailed) {
		return store.EventFilter{}, badRequest(fmt.Sprintf("status %q: want dead or failed (a processed event is replayed by its id)", b.Status))
	}
	f := store.EventFilter{Status: store.EventStatus(b.Status), Type: strings.TrimSpace(b.Type), AccountID: strings.TrimSpace(b.Account)}
	if s := strings.TrimSpace(b.Since); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return f, badRequest(fmt.Sprintf("since %q: want a positive duration such as 24h", s))
		}
		f.ReceivedSince = now.Add(-d)
	}
	return f, nil
}

// describe says in words which events f selects.
func (b bulkReplay) describe() string {
	var parts []string
	if b.Type != "" {
		parts = append(parts, "of type "+b.Type)
	}
	if b.Account != "" {
		parts = append(parts, "of account "+b.Account)
	}
	if b.Since != "" {
		parts = append(parts, "received in the last "+b.Since)
	}
	return strings.Join(parts, ", ")
}

func (h *Handler) unavailable(what string) error {
	return apierror.New(apierror.CodeUnavailable, what+" is not available: the event processor is not running")
}

// apiBulkReplay is POST /admin/api/events/replay with a JSON bulkReplay: 200
// {"count","dry_run"} with how many events matched (dry run) or were replayed.
func (h *Handler) apiBulkReplay(w http.ResponseWriter, r *http.Request) {
	var b bulkReplay
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		h.fail(w, r, badRequest("the body must be a JSON object {\"status\":\"dead\"|\"failed\", \"type\", \"account\", \"since\", \"dry_run\"}: "+err.Error()))
		return
	}
	n, err := h.bulkReplay(r.Context(), b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, struct {
		Count  int  `json:"count"`
		DryRun bool `json:"dry_run"`
	}{n, b.DryRun})
}

// bulkReplay counts (dry run) or replays the events b selects.
func (h *Handler) bulkReplay(ctx context.Context, b bulkReplay) (int, error) {
	f, err := b.filter(h.Now())
	if err != nil {
		return 0, err
	}
	if b.DryRun {
		return h.cfg.Store.CountMatchingEvents(ctx, f)
	}
	if h.cfg.Operations.ReplayMatching == nil {
		return 0, h.unavailable("replay")
	}
	n, err := h.cfg.Operations.ReplayMatching(ctx, f)
	if err == nil {
		h.Logger().InfoContext(ctx, "admin replayed events in bulk", "status", b.Status, "type", b.Type, "account", b.Account, "since", b.Since, "events", n)
	}
	return n, err
}

// processingJSON is the answer of the pause routes.
type processingJSON struct {
	Paused   bool       `json:"paused"`
	PausedAt *time.Time `json:"paused_at"`
}

func (h *Handler) processing(ctx context.Context) (processingJSON, error) {
	if h.cfg.Operations.PauseState == nil {
		return processingJSON{}, h.unavailable("the processing state")
	}
	at, paused, err := h.cfg.Operations.PauseState(ctx)
	if err != nil {
		return processingJSON{}, err
	}
	return processingJSON{Paused: paused, PausedAt: nullTime(at)}, nil
}

// setPaused runs Pause or Resume.
func (h *Handler) setPaused(ctx context.Context, pause bool) error {
	op, verb := h.cfg.Operations.Resume, "resumed"
	if pause {
		op, verb = h.cfg.Operations.Pause, "paused"
	}
	if op == nil {
		return h.unavailable("pausing")
	}
	if err := op(ctx); err != nil {
		return err
	}
	h.Logger().InfoContext(ctx, "admin "+verb+" event processing")
	return nil
}

// apiProcessing is GET /admin/api/processing: {"paused","paused_at"}.
func (h *Handler) apiProcessing(w http.ResponseWriter, r *http.Request) {
	p, err := h.processing(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, p)
}

// apiPause is POST /admin/api/events/pause and /resume: the new state.
func (h *Handler) apiPause(pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.setPaused(r.Context(), pause); err != nil {
			h.fail(w, r, err)
			return
		}
		h.apiProcessing(w, r)
	}
}

// pauseForm is POST /admin/events/pause and /resume from the dashboard's buttons.
func (h *Handler) pauseForm(pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.setPaused(r.Context(), pause); err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, "/admin/events", http.StatusSeeOther)
	}
}

// bulkReplayForm is POST /admin/events/replay from the events page: without confirm,
// a page with the number of events that match and a button to replay them; with
// confirm, the replay, then the events page with how many were replayed.
func (h *Handler) bulkReplayForm(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, badRequest("the form could not be read"))
		return
	}
	b := bulkReplay{Status: r.PostForm.Get("status"), Type: strings.TrimSpace(r.PostForm.Get("type")),
		Account: strings.TrimSpace(r.PostForm.Get("account")), Since: strings.TrimSpace(r.PostForm.Get("since"))}
	confirmed := r.PostForm.Get("confirm") == "1"
	b.DryRun = !confirmed
	n, err := h.bulkReplay(r.Context(), b)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if confirmed {
		q := url.Values{"status": {b.Status}, "replayed": {strconv.Itoa(n)}}
		http.Redirect(w, r, "/admin/events?"+q.Encode(), http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "replay", view{Title: "Replay events", Nav: "events", Data: struct {
		Replay    bulkReplay
		Count     int
		Described string
		Available bool
	}{b, n, b.describe(), h.cfg.Operations.ReplayMatching != nil}})
}
