package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/store"
)

// ChartDays is how many days the installs chart and the daily stats cover, today
// included.
const ChartDays = 30

// Listing sizes.
const (
	defaultLimit = 100
	maxLimit     = 1000
	jobsPerList  = 25
)

// modeCounts counts the accounts of one mode by state.
type modeCounts struct {
	Installed   int `json:"installed"`
	Uninstalled int `json:"uninstalled"`
	// ReauthorizationRequired counts OAuth installations whose refresh token Stripe
	// refused: their merchants must install again.
	ReauthorizationRequired int `json:"reauthorization_required"`
}

// dayCount is one day of the installs chart.
type dayCount struct {
	Date       time.Time
	Installs   int
	Uninstalls int
}

// stats is the overview the installations page and /admin/api/stats show.
type stats struct {
	Live, Test         modeCounts
	Events             map[store.EventStatus]int
	LastLive, LastTest time.Time // newest event received per mode; zero if none
	// Daily counts, oldest first, each account's latest install and uninstall by the
	// day (UTC) they happened. An account that uninstalled and installed again counts
	// only its latest install: the store keeps the current state, not the history.
	Daily []dayCount
}

// Count is the number of events with the given status.
func (s stats) Count(status string) int { return s.Events[store.EventStatus(status)] }

func (h *Handler) loadStats(ctx context.Context, ins []store.Installation) (stats, error) {
	st := stats{}
	for _, in := range ins {
		c := &st.Test
		if in.Livemode {
			c = &st.Live
		}
		switch in.Status {
		case store.Installed:
			c.Installed++
		case store.ReauthorizationRequired:
			c.ReauthorizationRequired++
		default:
			c.Uninstalled++
		}
	}
	var err error
	if st.Events, err = h.cfg.Store.CountEvents(ctx); err != nil {
		return st, err
	}
	for _, live := range []bool{true, false} {
		newest, err := h.cfg.Store.ListEvents(ctx, store.EventFilter{Livemode: &live, Limit: 1})
		if err != nil {
			return st, err
		}
		if len(newest) == 1 {
			if live {
				st.LastLive = newest[0].ReceivedAt
			} else {
				st.LastTest = newest[0].ReceivedAt
			}
		}
	}
	st.Daily = dailyCounts(ins, h.Now())
	return st, nil
}

func dailyCounts(ins []store.Installation, now time.Time) []dayCount {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(ChartDays - 1))
	days := make([]dayCount, ChartDays)
	for i := range days {
		days[i].Date = first.AddDate(0, 0, i)
	}
	index := func(t time.Time) int {
		if t.IsZero() {
			return -1
		}
		d := t.UTC().Truncate(24 * time.Hour)
		if d.Before(first) || d.After(today) {
			return -1
		}
		return int(d.Sub(first) / (24 * time.Hour))
	}
	for _, in := range ins {
		if i := index(in.InstalledAt); i >= 0 {
			days[i].Installs++
		}
		if i := index(in.UninstalledAt); i >= 0 && in.Status == store.Uninstalled {
			days[i].Uninstalls++
		}
	}
	return days
}

// installationFilter is the search of the installations page and API.
type installationFilter struct {
	Query  string // substring of the account id or name, any case
	Mode   string // "", "live" or "test"
	Status string // "", "installed", "uninstalled" or "reauthorization_required"
	Limit  int
}

func parseInstallationFilter(q url.Values) (installationFilter, error) {
	f := installationFilter{Query: strings.TrimSpace(q.Get("q")), Mode: q.Get("mode"), Status: q.Get("status")}
	switch f.Mode {
	case "", "live", "test":
	default:
		return f, badRequest("mode must be live or test")
	}
	switch store.InstallStatus(f.Status) {
	case "", store.Installed, store.Uninstalled, store.ReauthorizationRequired:
	default:
		return f, badRequest("status must be installed, uninstalled or reauthorization_required")
	}
	var err error
	f.Limit, err = parseLimit(q.Get("limit"))
	return f, err
}

func (f installationFilter) matches(in store.Installation) bool {
	if f.Mode != "" && modeName(in.Livemode) != f.Mode {
		return false
	}
	if f.Status != "" && string(in.Status) != f.Status {
		return false
	}
	if f.Query == "" {
		return true
	}
	q := strings.ToLower(f.Query)
	return strings.Contains(strings.ToLower(in.AccountID), q) || strings.Contains(strings.ToLower(in.DisplayName), q)
}

// installationRow is an installation with the newest event of its account and mode.
type installationRow struct {
	store.Installation
	LastEvent store.Event // zero if the account has no event left
}

func (r installationRow) Mode() string { return modeName(r.Livemode) }

// filterInstallations returns the rows of ins that match f, up to f.Limit, each with
// its newest event, and whether more matched.
func (h *Handler) filterInstallations(ctx context.Context, ins []store.Installation, f installationFilter) ([]installationRow, bool, error) {
	rows := []installationRow{}
	more := false
	for _, in := range ins {
		if !f.matches(in) {
			continue
		}
		if len(rows) == f.Limit {
			more = true
			break
		}
		live := in.Livemode
		last, err := h.cfg.Store.ListEvents(ctx, store.EventFilter{AccountID: in.AccountID, Livemode: &live, Limit: 1})
		if err != nil {
			return nil, false, err
		}
		row := installationRow{Installation: in}
		if len(last) == 1 {
			row.LastEvent = last[0]
		}
		rows = append(rows, row)
	}
	return rows, more, nil
}

// eventFilter is the filter of the events page and API.
type eventFilter struct {
	Status  string
	Type    string
	Account string
	Mode    string
	Limit   int
}

func parseEventFilter(q url.Values) (eventFilter, error) {
	f := eventFilter{
		Status:  q.Get("status"),
		Type:    strings.TrimSpace(q.Get("type")),
		Account: strings.TrimSpace(q.Get("account")),
		Mode:    q.Get("mode"),
	}
	if f.Status != "" && !store.EventStatus(f.Status).Valid() {
		return f, badRequest("status must be one of pending, processed, failed, dead")
	}
	switch f.Mode {
	case "", "live", "test":
	default:
		return f, badRequest("mode must be live or test")
	}
	var err error
	f.Limit, err = parseLimit(q.Get("limit"))
	return f, err
}

// list returns up to f.Limit events and whether more matched.
func (h *Handler) listEvents(ctx context.Context, f eventFilter) ([]store.Event, bool, error) {
	sf := store.EventFilter{Status: store.EventStatus(f.Status), Type: f.Type, AccountID: f.Account, Limit: f.Limit + 1}
	if f.Mode != "" {
		live := f.Mode == "live"
		sf.Livemode = &live
	}
	evs, err := h.cfg.Store.ListEvents(ctx, sf)
	if err != nil {
		return nil, false, err
	}
	if len(evs) > f.Limit {
		return evs[:f.Limit], true, nil
	}
	return evs, false, nil
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest(fmt.Sprintf("limit must be a number from 1 to %d", maxLimit))
	}
	return n, nil
}

func badRequest(msg string) error { return apierror.New(apierror.CodeBadRequest, msg) }

func modeName(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}

// jobRow is one River job as the jobs page and API show it.
type jobRow struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	Queue       string     `json:"queue"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	ScheduledAt time.Time  `json:"scheduled_at"`
	AttemptedAt *time.Time `json:"attempted_at"`
	FinalizedAt *time.Time `json:"finalized_at"`
	LastError   string     `json:"last_error,omitempty"`
	Args        string     `json:"args"`
}

func toJobRow(j *rivertype.JobRow) jobRow {
	row := jobRow{
		ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: string(j.State),
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		CreatedAt: j.CreatedAt, ScheduledAt: j.ScheduledAt,
		AttemptedAt: j.AttemptedAt, FinalizedAt: j.FinalizedAt,
		Args: compactJSON(j.EncodedArgs, 160),
	}
	if n := len(j.Errors); n > 0 {
		row.LastError = j.Errors[n-1].Error
	}
	return row
}

// jobs is the jobs page: what ran lately, what fails, what runs next.
type jobs struct {
	Recent   []jobRow `json:"recent"`
	Failures []jobRow `json:"failures"`
	Upcoming []jobRow `json:"upcoming"`
}

var errJobsUnavailable = apierror.New(apierror.CodeUnavailable, "the job queue is not available")

func (h *Handler) loadJobs(ctx context.Context) (jobs, error) {
	if h.cfg.Jobs == nil {
		return jobs{}, errJobsUnavailable
	}
	list := func(p *river.JobListParams) ([]jobRow, error) {
		res, err := h.cfg.Jobs.JobList(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		rows := make([]jobRow, 0, len(res.Jobs))
		for _, j := range res.Jobs {
			rows = append(rows, toJobRow(j))
		}
		return rows, nil
	}
	var out jobs
	var err error
	if out.Recent, err = list(river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(jobsPerList)); err != nil {
		return out, err
	}
	if out.Failures, err = list(river.NewJobListParams().
		States(rivertype.JobStateRetryable, rivertype.JobStateDiscarded).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(jobsPerList)); err != nil {
		return out, err
	}
	out.Upcoming, err = list(river.NewJobListParams().
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable).
		OrderBy(river.JobListOrderByScheduledAt, river.SortOrderAsc).First(jobsPerList))
	return out, err
}

func (h *Handler) loadSchedules(ctx context.Context) ([]ScheduleRow, error) {
	if h.cfg.Schedules == nil {
		return nil, nil
	}
	rows, err := h.cfg.Schedules(ctx)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return rows, nil
}

// compactJSON returns raw on one line, cut to max bytes.
func compactJSON(raw []byte, max int) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return truncate(string(raw), max)
	}
	return truncate(buf.String(), max)
}

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
