// Command retention measures APPBACKEND_PROCESSED_RETENTION (issue 22.1) against the
// built binary (`appbackend serve`, on 127.0.0.1, a fresh SQLite file or PostgreSQL
// database per run) and prints a Markdown report on stdout (progress on stderr):
//
//   - bytes: the bytes on disk per event of a realistic ~3 KB event (an invoice.paid
//     with line items, as Stripe sends it), posted signed and processed, before pruning
//     (the event row with its indexes, and River's job rows), and the bytes per
//     tombstone once the same events are pruned. SQLite: the used pages of the live
//     file (page_count less the free list) and a compacted copy (VACUUM INTO); both
//     less the same figure before the events. PostgreSQL: pg_total_relation_size
//     (heap, TOAST and indexes) of appbackend_events, river_job and
//     appbackend_event_tombstones, less the same before.
//   - week: a simulated week at a steady rate with the retention set to one simulated
//     day (-day, a few seconds): the database size sampled every half day. Events and
//     jobs stay flat after the first day; tombstones grow for 30 real days (they keep
//     the ids duplicates 30 days after created whatever the retention), so they are
//     shown apart.
//   - p99: webhook acknowledgement latency under a closed-loop load (-conns
//     connections, fresh signed 3 KB events) while the server prunes a backlog of
//     -backlog processed 3 KB events that are past the retention, against the same
//     load on the same backlog not yet due (retention 24h). The runs alternate within
//     each round; each round's p50/p99 are taken over the requests sent while its
//     prune ran (in both runs of the round), and the report gives the ratio.
//
// Usage: go run ./bench/cmd/retention -bin ./appbackend [-postgres URL] [-dbs sqlite,postgres]
// [-parts bytes,week,p99]. -postgres defaults to APPBACKEND_TEST_POSTGRES_URL
// (scripts/with-services.sh sets it); without one, PostgreSQL is skipped.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

const (
	appSecret     = "absec_bench_retention_0123456789"
	webhookSecret = "whsec_bench_retention_0123456789"
	idPlaceholder = "evt_XXXXXXXXXXXXXXXXXXXXXXXX" // as long as webhooktest.NewID's ids
)

type config struct {
	bin, pgURL, workDir   string
	events, rate, backlog int
	conns, rounds         int
	day, loadFor          time.Duration
	dbs, parts            []string
	template              []byte
	client                *http.Client
	pgCounter             atomic.Int64
	pgPrefix, logLevel    string
}

func main() {
	var c config
	var dbs, parts string
	flag.StringVar(&c.bin, "bin", "./appbackend", "the appbackend binary")
	flag.StringVar(&c.pgURL, "postgres", os.Getenv("APPBACKEND_TEST_POSTGRES_URL"), "a postgres:// URL whose server the runs create databases on")
	flag.StringVar(&dbs, "dbs", "sqlite,postgres", "databases")
	flag.StringVar(&parts, "parts", "bytes,week,p99", "measurements")
	flag.IntVar(&c.events, "events", 3000, "bytes: events posted")
	flag.DurationVar(&c.day, "day", 5*time.Second, "week: one simulated day (the retention)")
	flag.IntVar(&c.rate, "rate", 200, "week: events per second")
	flag.IntVar(&c.backlog, "backlog", 100000, "p99: processed events past the retention at the start")
	flag.IntVar(&c.conns, "conns", 16, "p99: concurrent connections")
	flag.IntVar(&c.rounds, "rounds", 2, "p99: rounds (a run without and one with the prune each)")
	flag.DurationVar(&c.loadFor, "load", 8*time.Second, "p99: load per run")
	flag.StringVar(&c.logLevel, "log-level", "warn", "the servers' APPBACKEND_LOG_LEVEL")
	flag.Parse()
	c.dbs, c.parts = strings.Split(dbs, ","), strings.Split(parts, ",")
	if err := c.run(); err != nil {
		fmt.Fprintln(os.Stderr, "retention:", err)
		os.Exit(1)
	}
}

func (c *config) run() error {
	var err error
	if c.bin, err = filepath.Abs(c.bin); err != nil {
		return err
	}
	if c.workDir, err = os.MkdirTemp("", "bench-retention-"); err != nil {
		return err
	}
	defer os.RemoveAll(c.workDir)
	c.template = eventTemplate()
	c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	c.pgPrefix = fmt.Sprintf("bench_retention_%d", time.Now().Unix()%100000)
	fmt.Printf("## Retention (APPBACKEND_PROCESSED_RETENTION)\n\nEvent payload: %d bytes (invoice.paid with line items). Machine: shared and loaded; ratios are of runs in the same round.\n\n", len(c.template))
	for _, db := range c.dbs {
		if db == "postgres" && c.pgURL == "" {
			fmt.Println("PostgreSQL: skipped (no -postgres / APPBACKEND_TEST_POSTGRES_URL).")
			continue
		}
		for _, part := range c.parts {
			var err error
			switch part {
			case "bytes":
				err = c.bytesPerEvent(db)
			case "week":
				err = c.week(db)
			case "p99":
				err = c.p99(db)
			default:
				err = fmt.Errorf("unknown part %q", part)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", db, part, err)
			}
		}
	}
	return nil
}

// eventTemplate is a realistic invoice.paid of about 3 KB, with idPlaceholder for its id.
func eventTemplate() []byte {
	var lines []any
	for i := 0; ; i++ {
		lines = append(lines, map[string]any{
			"id": webhooktest.NewID("il_"), "object": "line_item", "amount": 1000 + i*137, "currency": "usd",
			"description": fmt.Sprintf("%d × Pro plan (at $%d.00 / month)", i+1, 10+i), "livemode": true,
			"period": map[string]any{"start": 1733500000 + i, "end": 1736178400 + i},
			"price":  map[string]any{"id": webhooktest.NewID("price_"), "product": webhooktest.NewID("prod_")},
		})
		body := webhooktest.Event("invoice.paid", webhooktest.ID(idPlaceholder), webhooktest.Account("acct_1BenchRetention00"),
			webhooktest.Live(), webhooktest.Fields(map[string]any{"lines": map[string]any{"object": "list", "data": lines, "has_more": false}}))
		if len(body) >= 3000 {
			return body
		}
	}
}

// newEvent is the template with a fresh id, signed now.
func (c *config) newEvent() (body []byte, signature string) {
	body = bytes.Replace(c.template, []byte(idPlaceholder), []byte(webhooktest.NewID("evt_")), 1)
	return body, webhooktest.Sign(body, webhookSecret, time.Now())
}

// post sends one fresh event and returns how long the acknowledgement took.
func (c *config) post(baseURL string) (time.Duration, error) {
	body, sig := c.newEvent()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", sig)
	start := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// database is one fresh database: its APPBACKEND_DATABASE setting and a direct pool.
type database struct {
	kind, setting, path, name string
	db                        *sql.DB
}

func (c *config) newDatabase(kind string) (*database, error) {
	d := &database{kind: kind}
	if kind == "sqlite" {
		dir, err := os.MkdirTemp(c.workDir, "db-")
		if err != nil {
			return nil, err
		}
		d.path = filepath.Join(dir, "appbackend.db")
		d.setting = "sqlite:" + d.path
		return d, nil
	}
	d.name = fmt.Sprintf("%s_%d", c.pgPrefix, c.pgCounter.Add(1))
	if err := c.pgAdmin("CREATE DATABASE " + d.name); err != nil {
		return nil, err
	}
	u, err := url.Parse(c.pgURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + d.name
	d.setting = u.String()
	return d, nil
}

func (c *config) pgAdmin(stmt string) error {
	db, err := sql.Open("pgx", c.pgURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}

// open opens the direct pool, once the server has created the schema.
func (d *database) open() error {
	if d.db != nil {
		return nil
	}
	var err error
	if d.kind == "sqlite" {
		d.db, err = sql.Open("sqlite", "file:"+d.path+"?_pragma=busy_timeout(10000)")
		d.db.SetMaxOpenConns(1)
	} else {
		d.db, err = sql.Open("pgx", d.setting)
	}
	return err
}

func (c *config) drop(d *database) {
	if d.db != nil {
		d.db.Close()
	}
	if d.kind == "postgres" {
		if err := c.pgAdmin("DROP DATABASE IF EXISTS " + d.name + " WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "drop", d.name, err)
		}
	} else {
		os.RemoveAll(filepath.Dir(d.path))
	}
}

func (d *database) count(query string) (int64, error) {
	var n int64
	err := d.db.QueryRow(query).Scan(&n)
	return n, err
}

// sizes are the figures of one database at one moment, in bytes.
type sizes struct {
	file, used, compact int64 // SQLite: file + WAL, used pages, VACUUM INTO copy; PostgreSQL: pg_database_size
	events, jobs, tombs int64 // PostgreSQL: pg_total_relation_size per table
}

func (d *database) sizes(compact bool) (sizes, error) {
	var s sizes
	if d.kind == "sqlite" {
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(d.path + suffix); err == nil {
				s.file += fi.Size()
			}
		}
		var pages, free, size int64
		if err := d.db.QueryRow(`SELECT * FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()`).Scan(&pages, &free, &size); err != nil {
			return s, err
		}
		s.used = (pages - free) * size
		if compact {
			to := d.path + ".compact"
			os.Remove(to)
			if _, err := d.db.Exec(`VACUUM INTO ?`, to); err != nil {
				return s, err
			}
			fi, err := os.Stat(to)
			if err != nil {
				return s, err
			}
			s.compact = fi.Size()
			os.Remove(to)
		}
		return s, nil
	}
	err := d.db.QueryRow(`SELECT pg_database_size(current_database()),
		pg_total_relation_size('appbackend_events'), pg_total_relation_size('river_job'),
		pg_total_relation_size('appbackend_event_tombstones')`).Scan(&s.file, &s.events, &s.jobs, &s.tombs)
	return s, err
}

// server is one `appbackend serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (c *config) start(d *database, retention string) (*server, error) {
	cmd := exec.Command(c.bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + c.workDir,
		"APPBACKEND_ADDR=127.0.0.1:0", "APPBACKEND_DATABASE=" + d.setting,
		"STRIPE_APP_SECRETS=" + appSecret, "STRIPE_WEBHOOK_SECRETS=" + webhookSecret,
		"APPBACKEND_LOG_LEVEL=" + c.logLevel, "APPBACKEND_PROCESSED_RETENTION=" + retention,
		"APPBACKEND_DB_POOL=" + fmt.Sprint(c.conns+4),
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "appbackend listening on "); ok {
				select {
				case found <- strings.TrimSpace(strings.Fields(u)[0]):
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	select {
	case s.url = <-found:
		return s, nil
	case <-s.done:
		return nil, errors.New("appbackend serve exited before it listened")
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, errors.New("appbackend serve did not listen within 2 minutes")
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// waitFor polls cond every 100 ms until it holds, for at most timeout.
func waitFor(timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postMany posts n fresh events over conns connections.
func (c *config) postMany(url string, n int) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, c.conns)
	)
	for range c.conns {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.post(url); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func kb(n int64) string { return fmt.Sprintf("%.1f", float64(n)/1024) }

// bytesPerEvent: see the package doc.
func (c *config) bytesPerEvent(kind string) error {
	fmt.Fprintf(os.Stderr, "retention: %s bytes per event (%d events)\n", kind, c.events)
	d, err := c.newDatabase(kind)
	if err != nil {
		return err
	}
	defer c.drop(d)
	s, err := c.start(d, "720h")
	if err != nil {
		return err
	}
	if err := d.open(); err != nil {
		s.stop()
		return err
	}
	empty, err := d.sizes(true)
	if err != nil {
		s.stop()
		return err
	}
	if err := c.postMany(s.url, c.events); err != nil {
		s.stop()
		return err
	}
	if err := waitFor(5*time.Minute, "events processed", func() (bool, error) {
		n, err := d.count(`SELECT COUNT(*) FROM appbackend_events WHERE status = 'processed'`)
		return n == int64(c.events), err
	}); err != nil {
		s.stop()
		return err
	}
	processed, err := d.sizes(true)
	s.stop()
	if err != nil {
		return err
	}
	// The same database with a 1s retention: the events go, then River's completed
	// jobs (its cleaner runs every 30s); the tombstones stay.
	if s, err = c.start(d, "1s"); err != nil {
		return err
	}
	err = waitFor(3*time.Minute, "events and jobs pruned", func() (bool, error) {
		n, err := d.count(`SELECT (SELECT COUNT(*) FROM appbackend_events) + (SELECT COUNT(*) FROM river_job WHERE state = 'completed')`)
		return n == 0, err
	})
	if err != nil {
		s.stop()
		return err
	}
	tombs, err := d.sizes(true)
	s.stop()
	if err != nil {
		return err
	}
	n := int64(c.events)
	fmt.Printf("### Bytes on disk per event, %s (%d events of %d bytes)\n\n", kind, c.events, len(c.template))
	if kind == "sqlite" {
		fmt.Println("| | used pages / event | compacted (VACUUM INTO) / event |\n|---|---|---|")
		fmt.Printf("| processed, before pruning (event + River job) | %d B | %d B |\n", (processed.used-empty.used)/n, (processed.compact-empty.compact)/n)
		fmt.Printf("| after pruning: tombstone | %d B | %d B |\n\n", (tombs.used-empty.used)/n, (tombs.compact-empty.compact)/n)
		fmt.Printf("The live file's used pages after pruning keep the B-tree pages the deleted rows left part-filled (reused by new rows); the compacted copy is the tombstones' own size. File: %s KB empty, %s KB processed, %s KB after pruning (freed pages are reused, not returned).\n\n", kb(empty.file), kb(processed.file), kb(tombs.file))
		return nil
	}
	fmt.Println("| | appbackend_events / event | river_job / event | tombstones / event |\n|---|---|---|---|")
	fmt.Printf("| processed, before pruning | %d B | %d B | %d B |\n", (processed.events-empty.events)/n, (processed.jobs-empty.jobs)/n, (processed.tombs-empty.tombs)/n)
	fmt.Printf("| after pruning | (%d B, dead space until vacuumed) | | %d B |\n\n", (tombs.events-empty.events)/n, (tombs.tombs-empty.tombs)/n)
	fmt.Println("pg_total_relation_size: heap, TOAST (the payload is compressed there) and indexes. A deleted row's space is reused once autovacuum has run.")
	fmt.Println()
	return nil
}

// week: see the package doc.
func (c *config) week(kind string) error {
	fmt.Fprintf(os.Stderr, "retention: %s simulated week (day %s, %d events/s)\n", kind, c.day, c.rate)
	d, err := c.newDatabase(kind)
	if err != nil {
		return err
	}
	defer c.drop(d)
	s, err := c.start(d, c.day.String())
	if err != nil {
		return err
	}
	defer s.stop()
	if err := d.open(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 7*c.day)
	defer cancel()
	var (
		wg      sync.WaitGroup
		sent    atomic.Int64
		postErr atomic.Value
		tick    = time.NewTicker(time.Second / time.Duration(c.rate))
	)
	defer tick.Stop()
	work := make(chan struct{}, c.rate)
	for range c.conns {
		wg.Go(func() {
			for range work {
				if _, err := c.post(s.url); err != nil {
					postErr.Store(err)
				} else {
					sent.Add(1)
				}
			}
		})
	}
	go func() {
		defer close(work)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case work <- struct{}{}:
				default: // the server is behind: the sample shows the rate reached
				}
			}
		}
	}()
	fmt.Printf("### Database size over a simulated week, %s (1 day = %s = the retention, %d events/s)\n\n", kind, c.day, c.rate)
	if kind == "sqlite" {
		fmt.Println("| day | events sent | events stored | tombstones | River jobs | file + WAL | used pages |\n|---|---|---|---|---|---|---|")
	} else {
		fmt.Println("| day | events sent | events stored | tombstones | River jobs | database | appbackend_events | river_job | tombstones |\n|---|---|---|---|---|---|---|---|---|")
	}
	start := time.Now()
	sample := time.NewTicker(c.day / 2)
	defer sample.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-sample.C:
		}
		sz, err := d.sizes(false)
		if err != nil {
			return err
		}
		var evs, tombs, jobs int64
		if err := d.db.QueryRow(`SELECT (SELECT COUNT(*) FROM appbackend_events), (SELECT COUNT(*) FROM appbackend_event_tombstones), (SELECT COUNT(*) FROM river_job)`).Scan(&evs, &tombs, &jobs); err != nil {
			return err
		}
		day := float64(time.Since(start)) / float64(c.day)
		if kind == "sqlite" {
			fmt.Printf("| %.1f | %d | %d | %d | %d | %s KB | %s KB |\n", day, sent.Load(), evs, tombs, jobs, kb(sz.file), kb(sz.used))
		} else {
			fmt.Printf("| %.1f | %d | %d | %d | %d | %s KB | %s KB | %s KB | %s KB |\n", day, sent.Load(), evs, tombs, jobs, kb(sz.file), kb(sz.events), kb(sz.jobs), kb(sz.tombs))
		}
	}
	wg.Wait()
	if err, _ := postErr.Load().(error); err != nil {
		return err
	}
	fmt.Println()
	return nil
}

// latency is one acknowledgement: when it was sent, relative to the run's start.
type latency struct{ at, took time.Duration }

// loadRun is one p99 run: the latencies and how long the backlog took to prune
// (zero: it was not pruned within the run).
type loadRun struct {
	lat   []latency
	prune time.Duration
}

// p99: see the package doc.
func (c *config) p99(kind string) error {
	fmt.Fprintf(os.Stderr, "retention: %s ack p99 with and without pruning %d events\n", kind, c.backlog)
	tmpl, err := c.backlogTemplate(kind)
	if err != nil {
		return err
	}
	defer c.drop(tmpl)
	type round struct{ base, prune loadRun }
	var rounds []round
	for r := range c.rounds {
		var rd round
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, pruning := range order {
			run, err := c.loadOn(tmpl, pruning)
			if err != nil {
				return err
			}
			if pruning {
				rd.prune = run
			} else {
				rd.base = run
			}
		}
		rounds = append(rounds, rd)
	}
	fmt.Printf("### Webhook ack latency while %d processed 3 KB events are pruned, %s (%d connections, %s per run)\n\n", c.backlog, kind, c.conns, c.loadFor)
	fmt.Println("| round | prune took | acks (no prune / prune) | p50 no prune | p50 prune | p99 no prune | p99 prune | p99 ratio |\n|---|---|---|---|---|---|---|---|")
	var ratios []float64
	for i, rd := range rounds {
		window := rd.prune.prune
		took := window.Round(time.Millisecond).String()
		if window == 0 {
			window, took = c.loadFor, "> "+c.loadFor.String()
		}
		b, p := within(rd.base.lat, window), within(rd.prune.lat, window)
		ratio := float64(quantile(p, 0.99)) / float64(quantile(b, 0.99))
		ratios = append(ratios, ratio)
		fmt.Printf("| %d | %s | %d / %d | %s | %s | %s | %s | %.2f× |\n", i+1, took, len(b), len(p),
			ms(quantile(b, 0.5)), ms(quantile(p, 0.5)), ms(quantile(b, 0.99)), ms(quantile(p, 0.99)), ratio)
	}
	slices.Sort(ratios)
	fmt.Printf("\nMedian p99 ratio (prune / no prune): %.2f× (goal ≤ 1.2×).\n\n", ratios[len(ratios)/2])
	return nil
}

func within(lat []latency, window time.Duration) []time.Duration {
	var out []time.Duration
	for _, l := range lat {
		if l.at < window {
			out = append(out, l.took)
		}
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// backlogTemplate is a migrated database holding c.backlog processed events of the
// template's size, processed an hour ago: copied for each run.
func (c *config) backlogTemplate(kind string) (*database, error) {
	d, err := c.newDatabase(kind)
	if err != nil {
		return nil, err
	}
	s, err := c.start(d, "720h")
	if err != nil {
		c.drop(d)
		return nil, err
	}
	s.stop()
	if err := d.open(); err != nil {
		c.drop(d)
		return nil, err
	}
	hourAgo := time.Now().Add(-time.Hour)
	payload := strings.Replace(string(c.template), idPlaceholder, "evt_backlog_XXXXXXXXXXXXXXXX", 1)
	q := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO appbackend_events (id, type, account_id, livemode, created, api_version, payload, status, attempts, not_installed, received_at, processed_at)
		SELECT printf('evt_backlog_%016d', i), 'invoice.paid', 'acct_1BenchRetention00', TRUE, ?, '2024-06-20',
			CAST(replace(?, 'XXXXXXXXXXXXXXXX', printf('%016d', i)) AS BLOB), 'processed', 1, FALSE, ?, ? FROM n`
	if kind == "postgres" {
		q = `INSERT INTO appbackend_events (id, type, account_id, livemode, created, api_version, payload, status, attempts, not_installed, received_at, processed_at)
		SELECT 'evt_backlog_' || lpad(i::text, 16, '0'), 'invoice.paid', 'acct_1BenchRetention00', TRUE, $2, '2024-06-20',
			convert_to(replace($3, 'XXXXXXXXXXXXXXXX', lpad(i::text, 16, '0')), 'UTF8'), 'processed', 1, FALSE, $4, $5
		FROM generate_series(1, $1) AS i`
	}
	if _, err := d.db.Exec(q, c.backlog, hourAgo.Unix(), payload, hourAgo.UnixMicro(), hourAgo.UnixMicro()); err != nil {
		c.drop(d)
		return nil, fmt.Errorf("backlog: %w", err)
	}
	if kind == "postgres" {
		_, _ = d.db.Exec(`VACUUM ANALYZE appbackend_events`)
	} else {
		_, _ = d.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	d.db.Close()
	d.db = nil
	return d, nil
}

// copyOf is a fresh copy of the template database.
func (c *config) copyOf(tmpl *database) (*database, error) {
	if tmpl.kind == "postgres" {
		d := &database{kind: "postgres", name: fmt.Sprintf("%s_%d", c.pgPrefix, c.pgCounter.Add(1))}
		if err := c.pgAdmin("CREATE DATABASE " + d.name + " TEMPLATE " + tmpl.name); err != nil {
			return nil, err
		}
		u, _ := url.Parse(c.pgURL)
		u.Path = "/" + d.name
		d.setting = u.String()
		return d, nil
	}
	d, err := c.newDatabase("sqlite")
	if err != nil {
		return nil, err
	}
	src, err := os.Open(tmpl.path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := os.Create(d.path)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return nil, err
	}
	return d, dst.Close()
}

// loadOn runs the load on a copy of the backlog, with a retention that makes it due
// (pruning) or not.
func (c *config) loadOn(tmpl *database, pruning bool) (loadRun, error) {
	d, err := c.copyOf(tmpl)
	if err != nil {
		return loadRun{}, err
	}
	defer c.drop(d)
	retention := "24h"
	if pruning {
		retention = "30m"
	}
	fmt.Fprintf(os.Stderr, "retention: load, pruning=%v\n", pruning)
	s, err := c.start(d, retention)
	if err != nil {
		return loadRun{}, err
	}
	defer s.stop()
	if err := d.open(); err != nil {
		return loadRun{}, err
	}
	start := time.Now()
	var (
		run  loadRun
		mu   sync.Mutex
		wg   sync.WaitGroup
		fail atomic.Value
	)
	// Whether the backlog is gone, checked on its first id range (the same query in
	// both runs, so that both carry its cost).
	wg.Go(func() {
		for time.Since(start) < c.loadFor {
			var one int
			err := d.db.QueryRow(`SELECT COUNT(*) FROM (SELECT 1 FROM appbackend_events WHERE id >= 'evt_backlog_' AND id < 'evt_backlog` + "\x7f" + `' LIMIT 1) AS x`).Scan(&one)
			if err == nil && one == 0 && run.prune == 0 {
				mu.Lock()
				run.prune = time.Since(start)
				mu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	for range c.conns {
		wg.Go(func() {
			var mine []latency
			for {
				at := time.Since(start)
				if at >= c.loadFor {
					break
				}
				took, err := c.post(s.url)
				if err != nil {
					fail.Store(err)
					break
				}
				mine = append(mine, latency{at, took})
			}
			mu.Lock()
			run.lat = append(run.lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err, _ := fail.Load().(error); err != nil {
		return run, err
	}
	if pruning && run.prune == 0 {
		n, _ := d.count(`SELECT COUNT(*) FROM appbackend_events WHERE id LIKE 'evt_backlog_%'`)
		fmt.Fprintf(os.Stderr, "retention: %d of the backlog left after the run\n", n)
	}
	return run, nil
}
