// Command idle measures what an idle `appbackend serve --dev` writes to its database:
// it starts the server on a new database, lets it settle, then counts over a window
// the River jobs inserted (by kind) and the database's writes, table by table.
//
//	go build -o /tmp/appbackend ./cmd/appbackend
//	go run ./bench/cmd/idle -bin /tmp/appbackend [-db sqlite:PATH|postgres://…] [-window 60s]
//
// SQLite: the rows each table gained, changed or lost (every row compared before and
// after), the commits seen (PRAGMA data_version polled every 5 ms from another
// connection, so commits closer together count once) and the server's write system
// calls and bytes (/proc/PID/io). PostgreSQL: the database's committed transactions
// and rows inserted, updated and deleted (pg_stat_database), and per table
// (pg_stat_user_tables); the statistics reach these views within a second or so.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "idle: %v\n", err)
		os.Exit(1)
	}
}

var listening = regexp.MustCompile(`appbackend listening on (http://\S+)`)

func run() error {
	bin := flag.String("bin", "", "the appbackend executable (required)")
	database := flag.String("db", "", "sqlite:PATH or a postgres:// URL of an empty database (default: a new SQLite file)")
	settle := flag.Duration("settle", 15*time.Second, "wait this long after the start before measuring (PostgreSQL reports an idle connection's statistics up to 10 s late)")
	window := flag.Duration("window", 60*time.Second, "how long to measure")
	flag.Parse()
	if *bin == "" {
		return errors.New("-bin is required")
	}
	if *database == "" {
		dir, err := os.MkdirTemp("", "idle")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*database = "sqlite:" + filepath.Join(dir, "idle.db")
	}
	ctx := context.Background()
	cmd := exec.Command(*bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--database", *database)
	cmd.Env = append(os.Environ(), "APPBACKEND_LOG_LEVEL=info")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				up <- m[1]
			}
		}
	}()
	select {
	case addr := <-up:
		fmt.Printf("server %s on %s (pid %d)\n", addr, redact(*database), cmd.Process.Pid)
	case <-time.After(60 * time.Second):
		return errors.New("the server did not start in 60 s")
	}
	time.Sleep(*settle)

	sqlite := strings.HasPrefix(*database, "sqlite:")
	db, err := open(*database)
	if err != nil {
		return err
	}
	defer db.Close()
	before, err := snapshot(ctx, db, sqlite)
	if err != nil {
		return err
	}
	ioBefore := procIO(cmd.Process.Pid)
	commits := 0
	if sqlite {
		// data_version changes when another connection committed since the last read.
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		var last, v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&last); err != nil {
			return err
		}
		for end := time.Now().Add(*window); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
				return err
			}
			if v != last {
				commits++
				last = v
			}
		}
		conn.Close()
	} else {
		time.Sleep(*window)
		time.Sleep(2 * time.Second) // the server's last statistics reach pg_stat
	}
	after, err := snapshot(ctx, db, sqlite)
	if err != nil {
		return err
	}
	ioAfter := procIO(cmd.Process.Pid)

	fmt.Printf("idle for %s:\n", *window)
	fmt.Printf("  river_job rows inserted: %d", after.maxJobID-before.maxJobID)
	var kinds []string
	for k, n := range after.jobsByKind {
		if d := n - before.jobsByKind[k]; d != 0 {
			kinds = append(kinds, fmt.Sprintf("%s %+d", k, d))
		}
	}
	sort.Strings(kinds)
	if len(kinds) > 0 {
		fmt.Printf(" (rows now, by kind: %s)", strings.Join(kinds, ", "))
	}
	fmt.Println()
	if sqlite {
		fmt.Printf("  commits seen (data_version): %d\n", commits)
		if ioBefore != nil && ioAfter != nil {
			fmt.Printf("  server write syscalls: %d, bytes written: %d\n", ioAfter["syscw"]-ioBefore["syscw"], ioAfter["wchar"]-ioBefore["wchar"])
		}
	} else {
		for _, k := range []string{"xact_commit", "tup_inserted", "tup_updated", "tup_deleted"} {
			fmt.Printf("  %s: %d\n", k, after.pg[k]-before.pg[k])
		}
	}
	var tables []string
	for t, a := range after.tables {
		b := before.tables[t]
		if d := a.diff(b, sqlite); d != "" {
			tables = append(tables, "    "+t+": "+d)
		}
	}
	sort.Strings(tables)
	fmt.Printf("  tables written: %d\n", len(tables))
	for _, t := range tables {
		fmt.Println(t)
	}
	return nil
}

func open(database string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(database, "sqlite:"); ok {
		escaped := (&url.URL{Path: path}).EscapedPath()
		return sql.Open("sqlite", "file:"+escaped+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	}
	return sql.Open("pgx", database)
}

func redact(database string) string {
	if u, err := url.Parse(database); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return database
}

// table is what a snapshot knows of one table: on SQLite the hash of every row (by
// rowid), on PostgreSQL its cumulative row counters.
type table struct {
	rows               map[string][32]byte
	ins, upd, del, hot int64
}

func (a table) diff(b table, sqlite bool) string {
	if !sqlite {
		ins, upd, del := a.ins-b.ins, a.upd-b.upd, a.del-b.del
		if ins == 0 && upd == 0 && del == 0 {
			return ""
		}
		return fmt.Sprintf("%d inserted, %d updated, %d deleted", ins, upd, del)
	}
	var added, changed, removed int
	for k, h := range a.rows {
		old, ok := b.rows[k]
		switch {
		case !ok:
			added++
		case old != h:
			changed++
		}
	}
	for k := range b.rows {
		if _, ok := a.rows[k]; !ok {
			removed++
		}
	}
	if added == 0 && changed == 0 && removed == 0 {
		return ""
	}
	return fmt.Sprintf("%d rows added, %d changed, %d removed (net, compared before and after)", added, changed, removed)
}

type snap struct {
	maxJobID   int64
	jobsByKind map[string]int64
	tables     map[string]table
	pg         map[string]int64
}

func snapshot(ctx context.Context, db *sql.DB, sqlite bool) (snap, error) {
	s := snap{jobsByKind: map[string]int64{}, tables: map[string]table{}, pg: map[string]int64{}}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM river_job`).Scan(&s.maxJobID); err != nil {
		return s, err
	}
	rows, err := db.QueryContext(ctx, `SELECT kind, COUNT(*) FROM river_job GROUP BY kind`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return s, err
		}
		s.jobsByKind[k] = n
	}
	rows.Close()
	if !sqlite {
		if _, err := db.ExecContext(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			return s, err
		}
		var c, i, u, d int64
		if err := db.QueryRowContext(ctx, `SELECT xact_commit, tup_inserted, tup_updated, tup_deleted
			FROM pg_stat_database WHERE datname = current_database()`).Scan(&c, &i, &u, &d); err != nil {
			return s, err
		}
		s.pg = map[string]int64{"xact_commit": c, "tup_inserted": i, "tup_updated": u, "tup_deleted": d}
		rows, err := db.QueryContext(ctx, `SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd FROM pg_stat_user_tables`)
		if err != nil {
			return s, err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var t table
			if err := rows.Scan(&name, &t.ins, &t.upd, &t.del, &t.hot); err != nil {
				return s, err
			}
			s.tables[name] = t
		}
		return s, rows.Err()
	}
	var names []string
	rows, err = db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return s, err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return s, err
		}
		names = append(names, n)
	}
	rows.Close()
	for _, name := range names {
		t := table{rows: map[string][32]byte{}}
		rows, err := db.QueryContext(ctx, `SELECT rowid, * FROM "`+name+`"`)
		if err != nil { // a WITHOUT ROWID table: rows by content
			rows, err = db.QueryContext(ctx, `SELECT * FROM "`+name+`"`)
			if err != nil {
				return s, err
			}
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return s, err
			}
			h := sha256.Sum256(fmt.Appendf(nil, "%v", vals))
			key := fmt.Sprint(vals[0])
			if cols[0] != "rowid" {
				key = fmt.Sprintf("%x", h)
			}
			t.rows[key] = h
		}
		rows.Close()
		s.tables[name] = t
	}
	return s, nil
}

// procIO reads /proc/PID/io; nil where there is none.
func procIO(pid int) map[string]int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]int64{}
	b, _ := io.ReadAll(f)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		out[k] = n
	}
	return out
}
