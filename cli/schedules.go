package cli

import (
	"context"
	"io"
	"strconv"

	"github.com/appbackend/appbackend/internal/store"
)

func runSchedules(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("schedules", "appbackend schedules [--json] [--name NAME] [--account acct_…] [--limit N]", stdout)
	var l listing
	l.register(f, getenv, "print a JSON array, one object per schedule and account", "print at most N rows (default all)")
	name := f.String("name", "", "only this schedule")
	account := f.String("account", "", "only this account's schedules")
	if err := l.parse(f, args); err != nil {
		return err
	}
	return printListing(ctx, &l, stdout, func(st store.Store) ([]store.Schedule, error) {
		return st.ListSchedules(ctx, store.ScheduleFilter{Name: *name, AccountID: *account, Limit: l.limit})
	}, "NAME\tSPEC\tACCOUNT\tMODE\tSTATE\tNEXT RUN\tLAST RUN\tRUNS\tLAST ERROR", func(s store.Schedule) []string {
		account, runMode, state := "-", "-", "active"
		if s.AccountID != "" {
			account, runMode = s.AccountID, mode(s.Livemode)
		}
		next := timeOrDash(s.NextRunAt)
		if !s.Enabled {
			state, next = "disabled", "-"
		}
		return []string{s.Name, s.Spec, account, runMode, state, next, timeOrDash(s.LastRunAt), strconv.FormatInt(s.Runs, 10), orDash(s.LastError)}
	})
}
