// Command barereceiver is the simplest correct durable webhook receiver: the reference
// bench/acks.sh measures appbackend's intake against (issue 25). It does the least work
// any receiver must do that answers 200 only once the event is durable:
//
//   - net/http, POST /webhooks/stripe, the body read whole (at most 1 MiB);
//   - Stripe-Signature checked: t= within the tolerance of now, one v1= equal, in constant
//     time (hmac.Equal), to HMAC-SHA256(secret, "t.body") for one of the secrets;
//   - the envelope's id read with encoding/json (which also checks the body is JSON);
//   - the row handed to ONE writer goroutine, which takes whatever is queued (up to
//     -max-batch rows) and stores it with one multi-row
//     INSERT … ON CONFLICT (id) DO NOTHING, a transaction of its own (autocommit: one
//     statement, one round trip, no BEGIN/COMMIT trips), then answers every waiting
//     request: 200 after the commit, 503 if it failed.
//
// No queue of jobs, no processing, no metrics, no logging per request. SQLite runs in WAL
// with synchronous=FULL on one connection; PostgreSQL with the server's default
// synchronous_commit (on). The table is bare_events(id primary key, payload, received_at).
//
//	barereceiver -db sqlite:PATH|postgres://… -secret whsec_…[,whsec_…] [-addr 127.0.0.1:0]
//
// It prints "barereceiver listening on http://ADDR" once it listens (port 0 binds a free
// port) and answers GET /healthz.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

const maxBody = 1 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: any free one)")
	dbSpec := flag.String("db", "", "sqlite:PATH or a postgres:// URL")
	secrets := flag.String("secret", "", "endpoint signing secrets whsec_…, comma-separated")
	maxBatch := flag.Int("max-batch", 256, "most rows in one INSERT (one transaction)")
	tolerance := flag.Duration("tolerance", 300*time.Second, "oldest (and newest) accepted signature timestamp")
	flag.Parse()
	if *secrets == "" || *dbSpec == "" || *maxBatch < 1 {
		fmt.Fprintln(os.Stderr, "barereceiver: -db and -secret are required, -max-batch ≥ 1")
		os.Exit(2)
	}
	db, postgres, err := open(*dbSpec)
	if err != nil {
		log.Fatalf("barereceiver: %v", err)
	}
	w := &writer{db: db, postgres: postgres, queue: make(chan *row, 4**maxBatch), max: *maxBatch}
	if err := w.migrate(); err != nil {
		log.Fatalf("barereceiver: create table: %v", err)
	}
	go w.loop()
	v := &verifier{tolerance: *tolerance}
	for s := range strings.SplitSeq(*secrets, ",") {
		v.secrets = append(v.secrets, []byte(s))
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(rw, "ok\n") })
	mux.HandleFunc("POST /webhooks/stripe", func(rw http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, req.Body, maxBody))
		if err != nil {
			http.Error(rw, "bad body", http.StatusBadRequest)
			return
		}
		if !v.verify(req.Header.Get("Stripe-Signature"), body, time.Now()) {
			http.Error(rw, "bad signature", http.StatusBadRequest)
			return
		}
		var env struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.ID == "" {
			http.Error(rw, "not an event", http.StatusBadRequest)
			return
		}
		r := &row{id: env.ID, payload: body, received: time.Now().UnixMicro(), done: make(chan error, 1)}
		select {
		case w.queue <- r:
		case <-req.Context().Done():
			return
		}
		select {
		case err = <-r.done:
		case <-req.Context().Done():
			return // the client left; the row may still commit, a resend is a duplicate
		}
		if err != nil {
			http.Error(rw, "not stored", http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"received":true}`+"\n")
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("barereceiver: %v", err)
	}
	fmt.Printf("barereceiver listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

func open(spec string) (db *sql.DB, postgres bool, err error) {
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
		db, err = sql.Open("sqlite", "file:"+escaped+
			"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
		if err != nil {
			return nil, false, err
		}
		db.SetMaxOpenConns(1) // one writer; also what makes the pragmas apply to every statement
		return db, false, db.Ping()
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		db, err = sql.Open("pgx", spec)
		if err != nil {
			return nil, false, err
		}
		return db, true, db.Ping()
	}
	return nil, false, fmt.Errorf("-db %q: want sqlite:PATH or a postgres:// URL", spec)
}

// verifier checks Stripe-Signature: "t=UNIX,v1=HEX[,v1=HEX…]" (other schemes ignored).
type verifier struct {
	secrets   [][]byte
	tolerance time.Duration
}

func (v *verifier) verify(header string, body []byte, now time.Time) bool {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = val
		case "v1":
			if s, err := hex.DecodeString(val); err == nil {
				sigs = append(sigs, s)
			}
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return false
	}
	if d := now.Sub(time.Unix(t, 0)); d > v.tolerance || d < -v.tolerance {
		return false
	}
	for _, secret := range v.secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := mac.Sum(nil)
		for _, s := range sigs {
			if hmac.Equal(s, want) {
				return true
			}
		}
	}
	return false
}

type row struct {
	id       string
	payload  []byte
	received int64
	done     chan error
}

// writer is the one group-commit writer.
type writer struct {
	db       *sql.DB
	postgres bool
	queue    chan *row
	max      int
	stmts    map[int]*sql.Stmt // prepared INSERTs by batch size
}

func (w *writer) migrate() error {
	blob := "BLOB"
	if w.postgres {
		blob = "BYTEA"
	}
	_, err := w.db.Exec(`CREATE TABLE IF NOT EXISTS bare_events (
		id TEXT PRIMARY KEY, payload ` + blob + ` NOT NULL, received_at BIGINT NOT NULL)`)
	return err
}

func (w *writer) loop() {
	w.stmts = map[int]*sql.Stmt{}
	batch := make([]*row, 0, w.max)
	args := make([]any, 0, 3*w.max)
	for first := range w.queue {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < w.max {
			select {
			case r := <-w.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		args = args[:0]
		for _, r := range batch {
			args = append(args, r.id, r.payload, r.received)
		}
		err := w.insert(len(batch), args)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// insert runs the batch's INSERT, prepared once per batch size (a few hundred at most).
func (w *writer) insert(n int, args []any) error {
	stmt := w.stmts[n]
	if stmt == nil {
		var b strings.Builder
		b.WriteString("INSERT INTO bare_events (id, payload, received_at) VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			if w.postgres {
				fmt.Fprintf(&b, "($%d,$%d,$%d)", 3*i+1, 3*i+2, 3*i+3)
			} else {
				b.WriteString("(?,?,?)")
			}
		}
		b.WriteString(" ON CONFLICT (id) DO NOTHING")
		var err error
		if stmt, err = w.db.Prepare(b.String()); err != nil {
			return err
		}
		w.stmts[n] = stmt
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := stmt.ExecContext(ctx, args...)
	return err
}
