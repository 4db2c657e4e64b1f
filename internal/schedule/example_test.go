package schedule_test

import (
	"context"
	"fmt"
	"time"

	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/store"
)

// The slots of a spec are the same on every server: "@every 15m" runs on the quarter
// hours, cron specs in UTC unless they name a time zone.
func ExampleParseSpec() {
	from := time.Date(2026, time.March, 2, 10, 7, 0, 0, time.UTC)
	for _, text := range []string{"@every 15m", "0 9 * * 1-5", "CRON_TZ=America/New_York 0 9 * * *", "every morning"} {
		spec, err := schedule.ParseSpec(text)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-36s next %s\n", text, spec.Next(from).Format(time.RFC3339))
	}
	// Output:
	// @every 15m                           next 2026-03-02T10:15:00Z
	// 0 9 * * 1-5                          next 2026-03-03T09:00:00Z
	// CRON_TZ=America/New_York 0 9 * * *   next 2026-03-02T14:00:00Z
	// invalid schedule spec "every morning": expected 5 to 6 fields, found 2: [every morning]; want a cron expression such as "0 * * * *" (minute hour day month weekday, optionally seconds first), a descriptor such as @hourly or @daily, or an interval such as @every 5m
}

// Each account runs at its own offset from the slot, the same every time.
func ExampleJitter() {
	hourly, _ := schedule.ParseSpec("@hourly")
	for _, account := range []string{"acct_1", "acct_2", "acct_1"} {
		key := store.ScheduleKey{Name: "refresh", AccountID: account, Livemode: true}
		fmt.Println(account, schedule.Jitter(hourly, key, schedule.DefaultMaxJitter))
	}
	fmt.Println("platform", schedule.Jitter(hourly, store.ScheduleKey{Name: "refresh"}, schedule.DefaultMaxJitter))
	// Output:
	// acct_1 2m31.117s
	// acct_2 23.108s
	// acct_1 2m31.117s
	// platform 0s
}

// An app registers its schedules on a Set before the server starts; an invalid spec
// or a second schedule of the same name is an error there and then.
func ExampleSet() {
	set := schedule.NewSet()
	refresh := func(ctx context.Context, run schedule.Run) error {
		// ctx is bound to run.AccountID in run.Livemode: a Stripe client from it
		// calls on that merchant's behalf.
		return nil
	}
	fmt.Println(set.EveryAccount("@hourly", "refresh", refresh))
	fmt.Println(set.EveryAccount("@daily", "refresh", refresh))
	fmt.Println(set.Every("@every 500ms", "poll", refresh))
	fmt.Println(set.Names())
	// Output:
	// <nil>
	// duplicate schedule name: schedule "refresh" is already registered
	// schedule "poll": invalid schedule spec "@every 500ms": the interval must be a whole number of seconds, at least 1s
	// [refresh]
}
