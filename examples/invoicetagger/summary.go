package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/appbackend/appbackend"
)

// maxCatchUpDays bounds how many missed days one run summarises after a long outage.
const maxCatchUpDays = 31

// summarize is the nightly per-account schedule (EveryAccount): it counts the tags the
// account added on the UTC day before the run's slot, by tag, and stores that day's
// summary. Slots missed while the server was down are folded into one late run
// (run.Missed), so it also summarises the days those slots were for.
//
// Its writes go through the run's transaction and commit with the run: a failed or
// retried run leaves no half summary, and a slot's summary is written once. Called
// elsewhere (a test, an admin route), app.InTx begins a transaction of its own.
func (tg *tagger) summarize(ctx context.Context, run appbackend.Run) error {
	slot := run.Slot.UTC()
	today := time.Date(slot.Year(), slot.Month(), slot.Day(), 0, 0, 0, 0, time.UTC)
	days := min(run.Missed+1, maxCatchUpDays)
	return tg.app.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i := days; i >= 1; i-- {
			day := today.AddDate(0, 0, -i)
			if err := summarizeDay(ctx, tx, run.AccountID, run.Livemode, day); err != nil {
				return err
			}
		}
		return nil
	})
}

func summarizeDay(ctx context.Context, tx *sql.Tx, accountID string, livemode bool, day time.Time) error {
	rows, err := tx.QueryContext(ctx, `
		SELECT tag, COUNT(*) FROM invoice_tags
		WHERE account_id = $1 AND livemode = $2 AND created_at >= $3 AND created_at < $4
		GROUP BY tag`,
		accountID, livemode, day.Unix(), day.AddDate(0, 0, 1).Unix())
	if err != nil {
		return err
	}
	defer rows.Close()
	byTag, total := map[string]int{}, 0
	for rows.Next() {
		var tag string
		var n int
		if err := rows.Scan(&tag, &n); err != nil {
			return err
		}
		byTag[tag] = n
		total += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	counts, err := json.Marshal(byTag)
	if err != nil {
		return err
	}
	// JSON text goes into TEXT on SQLite and JSONB on PostgreSQL alike.
	_, err = tx.ExecContext(ctx, `
		INSERT INTO tag_summaries (account_id, livemode, day, tag_count, by_tag) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account_id, livemode, day) DO UPDATE SET tag_count = excluded.tag_count, by_tag = excluded.by_tag`,
		accountID, livemode, day.Format(time.DateOnly), total, string(counts))
	return err
}
