package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/store"
)

// list is the shape of every listing.
type list[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// withFields appends the fields of the JSON object extra to the JSON object base, so
// that the API extends the CLI's shapes (store's MarshalJSON) instead of repeating them.
func withFields(base []byte, extra any) (json.RawMessage, error) {
	more, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	base = bytes.TrimSpace(base)
	if len(more) <= 2 {
		return base, nil
	}
	out := append(bytes.TrimSuffix(base, []byte("}")), ',')
	return append(out, more[1:]...), nil
}

type lastEventJSON struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Status     store.EventStatus `json:"status"`
	ReceivedAt time.Time         `json:"received_at"`
}

// apiInstallations is GET /admin/api/installations: the accounts as
// `appbackend installations --json` shows them, plus mode and last_event.
func (h *Handler) apiInstallations(w http.ResponseWriter, r *http.Request) {
	f, err := parseInstallationFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ins, err := h.cfg.Store.ListInstallations(r.Context(), store.InstallationFilter{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, more, err := h.filterInstallations(r.Context(), ins, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := list[json.RawMessage]{Data: make([]json.RawMessage, 0, len(rows)), HasMore: more}
	for _, row := range rows {
		base, err := json.Marshal(row.Installation)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		extra := struct {
			Mode      string         `json:"mode"`
			LastEvent *lastEventJSON `json:"last_event"`
		}{Mode: row.Mode()}
		if ev := row.LastEvent; ev.ID != "" {
			extra.LastEvent = &lastEventJSON{ID: ev.ID, Type: ev.Type, Status: ev.Status, ReceivedAt: ev.ReceivedAt}
		}
		item, err := withFields(base, extra)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out.Data = append(out.Data, item)
	}
	apierror.WriteJSON(w, http.StatusOK, out)
}

// apiEvents is GET /admin/api/events: the inbox as `appbackend events --json` shows it.
func (h *Handler) apiEvents(w http.ResponseWriter, r *http.Request) {
	f, err := parseEventFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	evs, more, err := h.listEvents(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, list[store.Event]{Data: evs, HasMore: more})
}

// eventJSON is one event with its raw payload: the JSON Stripe sent, or a string if
// the stored bytes are not JSON.
func eventJSON(ev store.Event) (json.RawMessage, error) {
	base, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var raw any = json.RawMessage(ev.Raw)
	if !json.Valid(ev.Raw) {
		raw = string(bytes.ToValidUTF8(ev.Raw, []byte("\uFFFD")))
	}
	return withFields(base, struct {
		Raw any `json:"raw"`
	}{raw})
}

// apiEvent is GET /admin/api/events/{id}.
func (h *Handler) apiEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := h.event(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := eventJSON(ev)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, body)
}

// apiReplay is POST /admin/api/events/{id}/replay: 202 with the event, now pending.
func (h *Handler) apiReplay(w http.ResponseWriter, r *http.Request) {
	if _, err := h.replay(r); err != nil {
		h.fail(w, r, err)
		return
	}
	ev, err := h.event(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusAccepted, ev)
}

// apiJobs is GET /admin/api/jobs: {"recent","failures","upcoming"}.
func (h *Handler) apiJobs(w http.ResponseWriter, r *http.Request) {
	js, err := h.loadJobs(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	apierror.WriteJSON(w, http.StatusOK, js)
}

type scheduleJSON struct {
	Name      string     `json:"name"`
	Spec      string     `json:"spec"`
	Scope     string     `json:"scope"`
	Accounts  int        `json:"accounts"`
	LastRunAt *time.Time `json:"last_run_at"`
	NextRunAt *time.Time `json:"next_run_at"`
	LastError *string    `json:"last_error"`
}

// apiSchedules is GET /admin/api/schedules.
func (h *Handler) apiSchedules(w http.ResponseWriter, r *http.Request) {
	rows, err := h.loadSchedules(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := list[scheduleJSON]{Data: make([]scheduleJSON, 0, len(rows))}
	for _, s := range rows {
		out.Data = append(out.Data, scheduleJSON{
			Name: s.Name, Spec: s.Spec, Scope: s.Scope, Accounts: s.Accounts,
			LastRunAt: nullTime(s.LastRunAt), NextRunAt: nullTime(s.NextRunAt), LastError: nullString(s.LastError),
		})
	}
	apierror.WriteJSON(w, http.StatusOK, out)
}

type dayJSON struct {
	Date       string `json:"date"`
	Installs   int    `json:"installs"`
	Uninstalls int    `json:"uninstalls"`
}

// apiStats is GET /admin/api/stats: what the installations page summarises.
func (h *Handler) apiStats(w http.ResponseWriter, r *http.Request) {
	ins, err := h.cfg.Store.ListInstallations(r.Context(), store.InstallationFilter{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.loadStats(r.Context(), ins)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	events := map[store.EventStatus]int{}
	for _, s := range []store.EventStatus{store.EventPending, store.EventProcessed, store.EventFailed, store.EventDead} {
		events[s] = st.Events[s]
	}
	daily := make([]dayJSON, 0, len(st.Daily))
	for _, d := range st.Daily {
		daily = append(daily, dayJSON{Date: d.Date.Format(time.DateOnly), Installs: d.Installs, Uninstalls: d.Uninstalls})
	}
	apierror.WriteJSON(w, http.StatusOK, struct {
		Installations map[string]modeCounts     `json:"installations"`
		Events        map[store.EventStatus]int `json:"events"`
		LastEvent     map[string]*time.Time     `json:"last_event_received_at"`
		Daily         []dayJSON                 `json:"daily"`
	}{
		Installations: map[string]modeCounts{"live": st.Live, "test": st.Test},
		Events:        events,
		LastEvent:     map[string]*time.Time{"live": nullTime(st.LastLive), "test": nullTime(st.LastTest)},
		Daily:         daily,
	})
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
