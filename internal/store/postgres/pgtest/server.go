package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Server is a throwaway PostgreSQL server that this process started, with its own
// data directory, listening only on a Unix socket in its own temporary directory:
// it can be stopped and started again at the same address, which no other process
// can take meanwhile.
type Server struct {
	bin     string              // directory of initdb, pg_ctl, postgres
	dir     string              // the temporary directory: data, socket, log
	cred    *syscall.Credential // the postgres user's, when this process is root
	url     string
	watcher *watcher
}

func (s *Server) data() string    { return filepath.Join(s.dir, "data") }
func (s *Server) logFile() string { return filepath.Join(s.dir, "postgres.log") }

// The server's database, created empty when it starts.
const serverDatabase = "appbackend_test"

// StartServer starts a server for this test alone — for tests that take the database
// away ([Server.Down]) and bring it back — and stops it when the test ends. Its URL
// names the database appbackend_test, empty and unmigrated.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s, err := startServer()
	require.NoError(t, err, "PostgreSQL")
	t.Cleanup(func() {
		require.NoError(t, s.stop(), "stop PostgreSQL")
	})
	return s
}

// URL is the server's URL (database appbackend_test, through the Unix socket). It
// stays the same across Down and Up.
func (s *Server) URL() string { return s.url }

// Down stops the server, keeping its data, as an outage would: connections are
// refused until Up.
func (s *Server) Down(t testing.TB) {
	t.Helper()
	require.NoError(t, stopServer(context.Background(), filepath.Join(s.bin, "pg_ctl"), s.data(), s.cred), "PostgreSQL down")
}

// Up starts the server again after Down, at the same address.
func (s *Server) Up(t testing.TB) {
	t.Helper()
	require.NoError(t, s.pgctlStart(), "PostgreSQL up")
}

// Freeze stops every process of the server with SIGSTOP: connections are accepted
// by the kernel but never answered, as across a network partition.
func (s *Server) Freeze(t testing.TB) {
	t.Helper()
	require.NoError(t, s.signal(syscall.SIGSTOP), "PostgreSQL freeze")
}

// Thaw resumes a server after Freeze.
func (s *Server) Thaw(t testing.TB) {
	t.Helper()
	require.NoError(t, s.signal(syscall.SIGCONT), "PostgreSQL thaw")
}

// signal sends sig to the postmaster and its children. For SIGSTOP the postmaster
// is stopped first and its children are listed only once it is stopped, so that no
// backend forked meanwhile is missed: a missed one would keep committing on its
// pooled connection while the test believes the database frozen.
func (s *Server) signal(sig syscall.Signal) error {
	pidFile, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(pidFile), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	kill := func(pid int) error {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	}
	if sig != syscall.SIGSTOP {
		// Children first, then the postmaster, which may then fork again.
		for _, pid := range children(postmaster) {
			if err := kill(pid); err != nil {
				return err
			}
		}
		return kill(postmaster)
	}
	if err := kill(postmaster); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); processState(postmaster) != 'T'; {
		if time.Now().After(deadline) {
			return fmt.Errorf("postmaster %d did not stop", postmaster)
		}
		time.Sleep(time.Millisecond)
	}
	stopped := map[int]bool{}
	for {
		fresh := 0
		for _, pid := range children(postmaster) {
			if !stopped[pid] {
				if err := kill(pid); err != nil {
					return err
				}
				stopped[pid] = true
				fresh++
			}
		}
		if fresh == 0 {
			return nil
		}
	}
}

// children lists the processes whose parent is ppid, from /proc.
func children(ppid int) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		stat, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces, so read after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if parent, _ := strconv.Atoi(fields[1]); parent == ppid {
			pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/stat"))
			pids = append(pids, pid)
		}
	}
	return pids
}

// processState is the state letter of pid in /proc ('T' once stopped), or 0.
func processState(pid int) byte {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) == 0 || fields[0] == "" {
		return 0
	}
	return fields[0][0]
}

// errNoBinaries is the one line a test fails with when no server can be started.
var errNoBinaries = errors.New("initdb and pg_ctl not found: set " + EnvURL +
	" to a server on which the tests may create databases, or put PostgreSQL's initdb and pg_ctl on PATH")

// binDirs are where PostgreSQL's server programs are looked for after PATH: Debian
// and Ubuntu keep them out of PATH.
var binDirs = "/usr/lib/postgresql/*/bin"

// findBinaries returns the directory of initdb, pg_ctl and postgres: initdb's on
// PATH (its symbolic link resolved, for Debian's wrappers), else the newest under
// binDirs.
func findBinaries() (string, error) {
	complete := func(dir string) bool {
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil && complete(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob(binDirs)
	// …/15/bin before …/9/bin: by the version's number.
	version := func(dir string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir))); return n }
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if complete(dir) {
			return dir, nil
		}
	}
	return "", errNoBinaries
}

// serverUser returns the credential to run the server with: none for a user other
// than root, the system user postgres's for root, since initdb refuses to run as
// root. pgtest creates no user: that is the machine's set-up, not a test's.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root, and initdb refuses root: create the system user postgres " +
			"(useradd --system postgres; Debian's postgresql package does), run the tests as another user, or set " + EnvURL)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func credential(uid, gid int) *syscall.Credential {
	if uid == 0 && gid == 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// tempBase is where a server's directory goes: the system's temporary directory,
// unless the socket's path would be too long there (108 bytes at most, on Linux) or,
// as root, the server's user could not reach it (a TMPDIR under /root, say).
func tempBase(asOther bool) string {
	base := os.TempDir()
	if len(base) > 60 {
		return "/tmp"
	}
	if asOther {
		for dir := base; ; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			if err != nil || fi.Mode().Perm()&0o001 == 0 {
				return "/tmp"
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return base
}

// startServer creates a data directory, starts a server on it and creates the
// database serverDatabase.
func startServer() (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(cred != nil), "appbackend-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, cred: cred}
	c := cleanup{PgCtl: filepath.Join(bin, "pg_ctl"), Data: s.data(), Dir: dir}
	if cred != nil {
		c.Uid, c.Gid = int(cred.Uid), int(cred.Gid)
		if err := os.Chown(dir, c.Uid, c.Gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// Before initdb, so that the directory goes even if this process dies meanwhile.
	if s.watcher, err = startWatcher(c); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.init(); err != nil {
		_ = s.stop()
		return nil, err
	}
	if err := s.pgctlStart(); err != nil {
		_ = s.stop()
		return nil, err
	}
	s.url = (&url.URL{
		Scheme: "postgres",
		User:   url.User("postgres"),
		// appbackend wants a host; host= in the query overrides it with the socket's
		// directory, as in libpq.
		Host:     "localhost",
		Path:     "/" + serverDatabase,
		RawQuery: url.Values{"host": {dir}, "sslmode": {"disable"}}.Encode(),
	}).String()
	if err := s.createDatabase(); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

// run runs one of the server's programs as the server's user and returns its
// output in the error when it fails.
func (s *Server) run(ctx context.Context, program string, args ...string) error {
	return runAs(ctx, s.cred, s.dir, filepath.Join(s.bin, program), args...)
}

func runAs(ctx context.Context, cred *syscall.Credential, dir, program string, args ...string) error {
	cmd := exec.CommandContext(ctx, program, args...)
	// A directory the server's user can enter (initdb fails in one it cannot).
	cmd.Dir = dir
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.Join(strings.Fields(out.String()), " ")
		if len(msg) > 600 {
			msg = msg[len(msg)-600:]
		}
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(program), args[0], err, msg)
	}
	return nil
}

// init creates the data directory and its configuration.
func (s *Server) init() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// --no-sync: the data directory is thrown away with the process; the server
	// itself keeps fsync on (below).
	args := []string{"-D", s.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"}
	if err := s.run(ctx, "initdb", append(args, "--locale=C.UTF-8")...); err != nil {
		// Not every machine has the C.UTF-8 locale.
		_ = os.RemoveAll(s.data())
		if err := s.run(ctx, "initdb", append(args, "--no-locale")...); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(s.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// No TCP at all: the socket's directory is the server's address. fsync stays on,
	// as in production: acknowledged webhooks must survive a crash, and tests and
	// benchmarks measure that.
	_, err = fmt.Fprintf(f, `
# pgtest: a small test server on a Unix socket, durable commits.
listen_addresses = ''
unix_socket_directories = '%s'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 64MB
max_connections = 100
max_wal_size = 256MB
log_min_messages = warning
log_line_prefix = '%%m [%%p] '
`, strings.ReplaceAll(s.dir, "'", "''"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) pgctlStart() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.run(ctx, "pg_ctl", "start", "-D", s.data(), "-l", s.logFile(), "-w", "-t", "90")
}

// stopServer stops the server of the data directory data, quickly, and waits until
// it is gone. A data directory with no server running is no error.
func stopServer(ctx context.Context, pgctl, data string, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// A frozen server (Freeze) would never stop.
	_ = (&Server{dir: filepath.Dir(data)}).signal(syscall.SIGCONT)
	dir := filepath.Dir(data)
	err := runAs(ctx, cred, dir, pgctl, "stop", "-D", data, "-m", "fast", "-w", "-t", "30")
	if err != nil {
		err = runAs(ctx, cred, dir, pgctl, "stop", "-D", data, "-m", "immediate", "-w", "-t", "30")
	}
	return err
}

func (s *Server) createDatabase() error {
	u, err := url.Parse(s.url)
	if err != nil {
		return err
	}
	u.Path = "/postgres"
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+serverDatabase); err != nil {
		return fmt.Errorf("create database %s: %w", serverDatabase, err)
	}
	return nil
}

// stop stops the server and removes its directory, through its watcher.
func (s *Server) stop() error {
	return s.watcher.finish()
}
