package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/appbackend/appbackend"
)

// exportArgs is the CSV export: work that may outlast the request, so the route hands
// it to a job and the UI polls GET /api/jobs/{id}, appbackend's own signed route,
// which shows the job to the account that asked for it and nobody else.
type exportArgs struct{}

func (exportArgs) Kind() string { return "invoicetagger.export" }

// RerunAfterCrash lets appbackend put the job back at once when the process running it
// dies: it only reads, so running it again is safe.
func (exportArgs) RerunAfterCrash() bool { return true }

// startExport enqueues the caller's export and answers its id at once.
func (tg *tagger) startExport(w http.ResponseWriter, r *http.Request) {
	res, err := tg.app.Enqueue(r.Context(), exportArgs{}, nil)
	if err != nil {
		tg.app.WriteError(w, r, err)
		return
	}
	appbackend.WriteJSON(w, http.StatusAccepted, map[string]any{"job_id": res.Job.ID})
}

type exportWorker struct {
	river.WorkerDefaults[exportArgs]
	tagger *tagger
}

// Work builds the CSV of the account's tags and records it as the job's output, which
// GET /api/jobs/{id} answers as "output" once the job completed.
func (w exportWorker) Work(ctx context.Context, job *appbackend.Job[exportArgs]) error {
	// The job's context is bound to the account (and mode) of the signed request that
	// enqueued it.
	accountID, livemode, err := w.tagger.app.Account(ctx)
	if err != nil {
		return err
	}
	// Only reads: app.ReadDB, which no held transaction blocks.
	rows, err := w.tagger.app.ReadDB().QueryContext(ctx, `
		SELECT invoice_id, tag, added_by, created_at FROM invoice_tags
		WHERE account_id = $1 AND livemode = $2 ORDER BY invoice_id, tag`,
		accountID, livemode)
	if err != nil {
		return err
	}
	defer rows.Close()
	var buf bytes.Buffer
	out := csv.NewWriter(&buf)
	_ = out.Write([]string{"invoice_id", "tag", "added_by", "created_at"})
	n := 0
	for rows.Next() {
		var invoiceID, tag, addedBy string
		var created int64
		if err := rows.Scan(&invoiceID, &tag, &addedBy, &created); err != nil {
			return err
		}
		_ = out.Write([]string{invoiceID, tag, addedBy, time.Unix(created, 0).UTC().Format(time.RFC3339)})
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	out.Flush()
	if err := out.Error(); err != nil {
		return err
	}
	return river.RecordOutput(ctx, map[string]any{"rows": n, "csv": buf.String(), "filename": "invoice-tags-" + strconv.FormatInt(job.ID, 10) + ".csv"})
}
