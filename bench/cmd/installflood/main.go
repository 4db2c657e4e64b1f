// Command installflood measures what anonymous GET /install requests make a running
// backend store: -clients connections each request, in a loop for -duration,
// GET /install?mode=test with -return-size bytes of random return data (the most the
// server takes), and it reports the answers by status and the database's growth.
//
//	installflood -url http://127.0.0.1:3000 -db appbackend.db -clients 8 -duration 20s
//	installflood -url http://127.0.0.1:3000 -db postgres://user@127.0.0.1:5432/appbackend
//
// The database is measured on disk: a SQLite file with its -wal (sqlite:PATH or PATH), or
// pg_database_size of a postgres:// URL. The server needs STRIPE_APP_ID and
// APPBACKEND_PUBLIC_URL (install links configured); `appbackend serve --dev` is enough.
//
// -clients 0 measures the same span without requests: what the server writes anyway
// (heartbeats, the job queue's polling, a WAL not yet checkpointed).
//
// It only connects to a loopback address, and every request has a timeout.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "installflood:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	f := flag.NewFlagSet("installflood", flag.ContinueOnError)
	base := f.String("url", "http://127.0.0.1:3000", "the backend's base URL (loopback only)")
	db := f.String("db", "", "the backend's database: sqlite:PATH, PATH, or a postgres:// URL (required)")
	clients := f.Int("clients", 8, "concurrent clients (0: none, to measure what the idle server writes meanwhile)")
	duration := f.Duration("duration", 20*time.Second, "how long to flood")
	returnSize := f.Int("return-size", 2000, "bytes of return data per request (the query minus mode)")
	settle := f.Duration("settle", 2*time.Second, "wait after the flood before measuring again (checkpoints, autovacuum)")
	if err := f.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(strings.TrimRight(*base, "/"))
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url %q is not a URL", *base)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-url %q is not a loopback address", *base)
	}
	if *db == "" || *clients < 0 || *duration <= 0 || *returnSize < 0 {
		return errors.New("-db is required; -duration must be positive")
	}
	size, closeDB, err := sizer(*db)
	if err != nil {
		return err
	}
	defer closeDB()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	before, err := size(ctx)
	if err != nil {
		return err
	}
	// Random data, as PostgreSQL compresses a repeated filler to almost nothing (TOAST).
	targets := make([]string, 64)
	for i := range targets {
		b := make([]byte, max(*returnSize-len("data="), 0)*3/4+1)
		_, _ = rand.Read(b)
		targets[i] = u.String() + "/install?mode=test&data=" + base64.RawURLEncoding.EncodeToString(b)[:max(*returnSize-len("data="), 0)]
	}

	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: *clients},
	}
	floodCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for range *clients {
		wg.Go(func() {
			local := map[string]int{}
			for i := 0; floodCtx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(floodCtx, http.MethodGet, targets[i%len(targets)], nil)
				resp, err := client.Do(req)
				if err != nil {
					if floodCtx.Err() == nil {
						local["error"]++
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local[fmt.Sprint(resp.StatusCode)]++
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	<-floodCtx.Done()
	elapsed := time.Since(start)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*settle):
	}
	after, err := size(ctx)
	if err != nil {
		return err
	}

	total := 0
	keys := make([]string, 0, len(statuses))
	for k, v := range statuses {
		total += v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(out, "GET /install flood: %d clients, %s, %d bytes of return data each\n", *clients, elapsed.Round(time.Millisecond), *returnSize)
	fmt.Fprintf(out, "requests: %d (%.0f/s)", total, float64(total)/elapsed.Seconds())
	for _, k := range keys {
		fmt.Fprintf(out, ", %s: %d", k, statuses[k])
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "database: %s before, %s after (%+d bytes)\n", human(before.total), human(after.total), after.total-before.total)
	if before.detail != "" {
		fmt.Fprintf(out, "  before: %s\n  after:  %s\n", before.detail, after.detail)
	}
	return nil
}

// dbSize is a database's size on disk, and for SQLite how it splits.
type dbSize struct {
	total  int64
	detail string
}

// sizer returns a function that measures the database on disk.
func sizer(db string) (func(context.Context) (dbSize, error), func(), error) {
	if strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		conn, err := sql.Open("pgx", db)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context) (dbSize, error) {
			var n int64
			err := conn.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
			return dbSize{total: n}, err
		}, func() { conn.Close() }, nil
	}
	path := strings.TrimPrefix(db, "sqlite:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("-db: %w", err)
	}
	return func(context.Context) (dbSize, error) {
		var s dbSize
		var parts []string
		for _, p := range []string{path, path + "-wal"} {
			st, err := os.Stat(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return s, err
			}
			s.total += st.Size()
			parts = append(parts, fmt.Sprintf("%s %s", p, human(st.Size())))
		}
		// The WAL is recycled at each checkpoint: the file holds the data.
		s.detail = strings.Join(parts, ", ")
		return s, nil
	}, func() {}, nil
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
