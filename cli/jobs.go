package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/schedule"
)

// jobsPage is how many jobs one listing query reads.
const jobsPage = 1000

func runJobs(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("jobs", "appbackend jobs [--json] [--limit N] [--state S] [--kind K] [--queue Q]", stdout)
	var l listing
	l.register(f, getenv, "print a JSON array", "print at most N jobs, newest first (default all)")
	state := f.String("state", "", "only jobs in this state: "+strings.Join(jobStates(), ", "))
	kind := f.String("kind", "", "only jobs of this kind (the schedule tick is listed only when named)")
	queue := f.String("queue", "", "only jobs of this queue")
	if err := l.parse(f, args); err != nil {
		return err
	}
	if *state != "" && !slices.Contains(jobStates(), *state) {
		return usagef("--state %q: want one of %s", *state, strings.Join(jobStates(), ", "))
	}
	st, err := l.open(ctx, existing)
	if err != nil {
		return err
	}
	defer st.Close()
	// A runtime that is never started only reads River's table; the server's runs the
	// jobs.
	rt := runtime.New(runtime.Config{})
	rt.Open(st)
	if err := rt.Build(); err != nil {
		return err
	}
	client := rt.River()
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(jobsPage)
	if *state != "" {
		params = params.States(rivertype.JobState(*state))
	}
	if *kind != "" {
		params = params.Kinds(*kind)
	}
	if *queue != "" {
		params = params.Queues(*queue)
	}
	list := []appbackend.JobStatus{}
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return err
		}
		for _, j := range res.Jobs {
			// The tick runs every second and says nothing about the app's work.
			if *kind == "" && j.Kind == (schedule.TickArgs{}).Kind() {
				continue
			}
			if l.limit > 0 && len(list) == l.limit {
				break
			}
			list = append(list, statusOf(j))
		}
		if len(res.Jobs) < jobsPage || l.limit > 0 && len(list) == l.limit {
			break
		}
		params = params.After(res.LastCursor)
	}
	if l.asJSON {
		return writeJSONArray(stdout, list)
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tATTEMPTS\tACCOUNT\tCREATED AT\tFINALIZED AT\tLAST ERROR")
	for _, j := range list {
		account, lastErr := "-", "-"
		if j.AccountID != nil {
			account = *j.AccountID
		}
		if n := len(j.Errors); n > 0 {
			lastErr = firstLine(j.Errors[n-1].Error)
		}
		finalized := "-"
		if j.FinalizedAt != nil {
			finalized = timeOrDash(*j.FinalizedAt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", j.ID, j.Kind, j.Queue, j.State, j.Attempts, j.MaxAttempts,
			account, timeOrDash(j.CreatedAt), finalized, lastErr)
	}
	return tw.Flush()
}

// statusOf is a job as the listing shows it. appbackend's own per-account jobs (a
// schedule's run for an account, the data removal after an uninstall, …) carry their
// account in their args rather than in the owner metadata Enqueue records, which
// GET /api/jobs/{id} checks; the operator's listing shows it all the same.
func statusOf(j *rivertype.JobRow) appbackend.JobStatus {
	s := appbackend.JobStatusOf(j)
	if s.AccountID != nil || !strings.HasPrefix(j.Kind, "appbackend.") {
		return s
	}
	var args struct {
		AccountID string `json:"account_id"`
	}
	if json.Unmarshal(j.EncodedArgs, &args) == nil && args.AccountID != "" {
		s.AccountID = &args.AccountID
	}
	return s
}

func jobStates() []string {
	var states []string
	for _, s := range rivertype.JobStates() {
		states = append(states, string(s))
	}
	return states
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
