package admin

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/store"
)

//go:embed templates/*.html templates/admin.css
var templateFiles embed.FS

// pages holds one template set per page, each with the shared layout.
type pages struct {
	sets map[string]*template.Template
	css  template.CSS
}

var pageNames = []string{"login", "installations", "events", "event", "jobs", "error", "replay"}

func loadPages() (*pages, error) {
	css, err := fs.ReadFile(templateFiles, "templates/admin.css")
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	p := &pages{sets: map[string]*template.Template{}, css: template.CSS(css)}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("admin: template %s: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

var templateFuncs = template.FuncMap{
	"join": strings.Join,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("Jan 2, 15:04")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"full": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	"since": since,
	"mode":  modeName,
	"short": func(s string, n int) string { return truncate(s, n) },
	"eventsURL": func(pairs ...string) string {
		q := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				q.Set(pairs[i], pairs[i+1])
			}
		}
		if len(q) == 0 {
			return "/admin/events"
		}
		return "/admin/events?" + q.Encode()
	},
	"eventURL": func(id string) string { return "/admin/events/" + url.PathEscape(id) },
	"plural":   func(n int, word string) string { return fmt.Sprintf("%d %s", n, plural(n, word)) },
}

// since says how long before now t was, roughly: "4 min ago", "3 days ago".
func since(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}

// view is what the layout needs, with the page's own data in Data.
type view struct {
	Title   string
	Nav     string // the active navigation entry
	Nonce   string
	CSS     template.CSS
	Flash   string
	Refresh int // seconds before the page reloads itself; 0: never
	Data    any
	// Backup is the footer's line about the latest scheduled backup; Stale marks it
	// overdue.
	Backup      string
	BackupStale bool
	// Paused, when set, is the banner saying since when event processing is paused.
	Paused string
}

// backupLine says when the latest scheduled backup was written, if backups are on.
func (h *Handler) backupLine(r *http.Request) (string, bool) {
	if h.cfg.LastBackup == nil {
		return "", false
	}
	at, file, ok, err := h.cfg.LastBackup(r.Context())
	switch {
	case err != nil:
		return "Last backup: unknown (" + err.Error() + ")", true
	case !ok:
		return "Last backup: none yet", true
	}
	now := h.Now()
	return "Last backup: " + since(now, at) + " (" + file + ")", h.cfg.BackupEvery > 0 && now.Sub(at) > 2*h.cfg.BackupEvery
}

// pausedLine is the banner of every page while event processing is paused.
func (h *Handler) pausedLine(r *http.Request) string {
	if h.cfg.Operations.PauseState == nil {
		return ""
	}
	at, paused, err := h.cfg.Operations.PauseState(r.Context())
	switch {
	case err != nil:
		return "Event processing: state unknown (" + err.Error() + ")"
	case !paused:
		return ""
	}
	return "Event processing is paused (since " + since(h.Now(), at) + "): webhooks are acknowledged and stored, nothing is processed or delivered."
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.Nonce, v.CSS = nonceOf(r), h.pages.css
	if v.Nav != "" {
		v.Backup, v.BackupStale = h.backupLine(r)
		v.Paused = h.pausedLine(r)
	}
	var buf bytes.Buffer
	if err := h.pages.sets[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.Logger().ErrorContext(r.Context(), "admin template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	h.render(w, r, status, "login", view{Title: "Sign in", Data: problem})
}

type errorPage struct{ Heading, Message string }

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	h.render(w, r, status, "error", view{Title: heading, Data: errorPage{heading, message}})
}

// installationsPage is GET /admin/: the overview, the chart and the accounts.
func (h *Handler) installationsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := parseInstallationFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ins, err := h.cfg.Store.ListInstallations(ctx, store.InstallationFilter{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.loadStats(ctx, ins)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, more, err := h.filterInstallations(ctx, ins, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "installations", view{Title: "Installations", Nav: "installations", Data: struct {
		Stats  stats
		Chart  chart
		Rows   []installationRow
		More   bool
		Filter installationFilter
		Total  int
		Now    time.Time
	}{st, buildChart(st.Daily), rows, more, f, len(ins), h.Now()}})
}

// eventsPage is GET /admin/events: the inbox, filtered.
func (h *Handler) eventsPage(w http.ResponseWriter, r *http.Request) {
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
	counts, err := h.cfg.Store.CountEvents(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := view{Title: "Events", Nav: "events"}
	if n := r.URL.Query().Get("replayed"); n != "" {
		if count, err := strconv.Atoi(n); err == nil {
			v.Flash = fmt.Sprintf("Replay queued for %d %s: processed again in a moment, oldest first.", count, plural(count, "event"))
		}
	}
	ops := h.cfg.Operations
	data := struct {
		Events   []store.Event
		More     bool
		Filter   eventFilter
		Counts   map[store.EventStatus]int
		Statuses []store.EventStatus
		// BulkReplay shows the replay-all form (on the failed and dead tabs).
		BulkReplay bool
		// CanPause shows the pause or resume button, as Paused says.
		CanPause, Paused bool
	}{Events: evs, More: more, Filter: f, Counts: counts,
		Statuses:   []store.EventStatus{store.EventPending, store.EventProcessed, store.EventFailed, store.EventDead},
		BulkReplay: ops.ReplayMatching != nil && (f.Status == string(store.EventDead) || f.Status == string(store.EventFailed)),
		CanPause:   ops.Pause != nil && ops.Resume != nil && ops.PauseState != nil}
	if data.CanPause {
		if _, data.Paused, err = ops.PauseState(r.Context()); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	v.Data = data
	h.render(w, r, http.StatusOK, "events", v)
}

// eventPage is GET /admin/events/{id}: one event, raw, with its replay button.
func (h *Handler) eventPage(w http.ResponseWriter, r *http.Request) {
	ev, err := h.event(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := view{Title: "Event " + ev.ID, Nav: "events"}
	if r.URL.Query().Get("replayed") == "1" {
		v.Flash = "Replay queued: the event is processed again in a moment."
	}
	if ev.Status == store.EventPending {
		v.Refresh = 2 // follow the processing without a script
	}
	v.Data = struct {
		Event      store.Event
		Raw        string
		Replayable bool
	}{ev, prettyJSON(ev.Raw), h.cfg.Replay != nil && ev.Status != store.EventPending}
	h.render(w, r, http.StatusOK, "event", v)
}

// event loads the event named by the {id} path value.
func (h *Handler) event(r *http.Request) (store.Event, error) {
	id := r.PathValue("id")
	ev, err := h.cfg.Store.Event(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return ev, apierror.New(apierror.CodeNotFound, "no event "+id)
	}
	return ev, err
}

// replay runs Config.Replay for the {id} path value.
func (h *Handler) replay(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if h.cfg.Replay == nil {
		return id, apierror.New(apierror.CodeUnavailable, "replay is not available: the event processor is not running")
	}
	err := h.cfg.Replay(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return id, apierror.New(apierror.CodeNotFound, "no event "+id)
	}
	if err == nil {
		h.Logger().InfoContext(r.Context(), "admin replayed event", "event_id", id)
	}
	return id, err
}

// replayForm is POST /admin/events/{id}/replay from the event page's button.
func (h *Handler) replayForm(w http.ResponseWriter, r *http.Request) {
	id, err := h.replay(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/events/"+url.PathEscape(id)+"?replayed=1", http.StatusSeeOther)
}

// jobsPage is GET /admin/jobs: River's recent, failing and next jobs, and schedules.
func (h *Handler) jobsPage(w http.ResponseWriter, r *http.Request) {
	js, err := h.loadJobs(r.Context())
	unavailable := errors.Is(err, errJobsUnavailable)
	if err != nil && !unavailable {
		h.fail(w, r, err)
		return
	}
	schedules, err := h.loadSchedules(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "jobs", view{Title: "Jobs & schedules", Nav: "jobs", Data: struct {
		Jobs        jobs
		Unavailable bool
		Schedules   []ScheduleRow
	}{js, unavailable, schedules}})
}

// prettyJSON indents raw for reading; bytes that are not JSON are shown as they are.
func prettyJSON(raw []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return buf.String()
}
