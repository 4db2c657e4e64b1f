package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/sqlstore"
)

// Token row statuses.
const (
	StatusActive                  = "active"
	StatusReauthorizationRequired = "reauthorization_required"
)

// ErrReauthorizationRequired: the account's refresh token was refused; no call can be
// made for it until the merchant installs again.
var ErrReauthorizationRequired = errors.New("the merchant must reauthorize the app (install it again): Stripe refused its OAuth refresh token")

// ErrNoToken: the account has no OAuth token in that mode.
var ErrNoToken = errors.New("no OAuth token for this account and mode")

// DefaultRefreshMargin is how long before expiry a token is refreshed on demand.
const DefaultRefreshMargin = 2 * time.Minute

// Config configures a Manager.
type Config struct {
	DB *sql.DB
	// Postgres selects PostgreSQL's SQL ($n placeholders, FOR UPDATE); else SQLite.
	Postgres bool
	Keys     *secretbox.Keyring
	Endpoint *Endpoint
	// RefreshMargin: an access token that expires within it is refreshed before use.
	RefreshMargin time.Duration
	// Archetype is the App's logger and clock (nil: discard, the real clock).
	Archetype *baseservice.Archetype
	// OnReauthorizationRequired runs in the transaction that records an invalid_grant
	// (it marks the installation and runs the app's hooks).
	OnReauthorizationRequired func(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error
}

// Manager stores, seals and refreshes the OAuth tokens. Safe for concurrent use; several
// Managers (replicas) may share one database.
type Manager struct {
	baseservice.Base
	cfg     Config
	dialect sqlstore.Dialect

	mu     sync.Mutex
	cache  map[tokenKey]cached
	locks  map[tokenKey]*sync.Mutex
	counts Counts
}

type tokenKey struct {
	account  string
	livemode bool
}

type cached struct {
	access    string
	expiresAt time.Time
}

// Counts says what a Manager did (tests, metrics).
type Counts struct {
	Refreshes     int // successful refreshes at Stripe
	InvalidGrants int
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = DefaultRefreshMargin
	}
	m := &Manager{cfg: cfg, dialect: sqlstore.SQLite, cache: map[tokenKey]cached{}, locks: map[tokenKey]*sync.Mutex{}}
	if cfg.Postgres {
		m.dialect = sqlstore.PostgreSQL
	}
	m.Init(cfg.Archetype)
	return m
}

// Counts returns what the Manager did so far.
func (m *Manager) Counts() Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts
}

// q rewrites a query's ? placeholders for the database (sqlstore's one rewriter).
func (m *Manager) q(query string) string { return m.dialect.Rebind(query) }

// lockRow locks a selected row until the transaction ends (FOR UPDATE on PostgreSQL;
// on SQLite the write transaction already holds the database's write lock).
func (m *Manager) lockRow() string { return m.dialect.LockRow }

func ad(accountID string, livemode bool, which string) string {
	return "appbackend.oauth:" + accountID + ":" + strconv.FormatBool(livemode) + ":" + which
}

// Record is a stored token row, decrypted.
type Record struct {
	AccountID    string
	Livemode     bool
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Scope        string
	UserID       string
	Status       string
	Refreshes    int
}

type row struct {
	accessSealed, refreshSealed string
	expiresAt                   int64
	scope, userID, status       string
	refreshes                   int
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryerFor reads in ctx's open transaction if it carries one (on SQLite a read on
// the pool would wait for that transaction's write lock), else on the pool.
func (m *Manager) queryerFor(ctx context.Context) queryer {
	if tx, ok := store.OpenTxFrom(ctx); ok {
		return tx
	}
	return m.cfg.DB
}

func (m *Manager) load(ctx context.Context, q queryer, accountID string, livemode bool, lock string) (row, error) {
	var r row
	err := q.QueryRowContext(ctx, m.q(`SELECT access_token, refresh_token, expires_at, scope, user_id, status, refreshes
		FROM appbackend_oauth_tokens WHERE account_id = ? AND livemode = ?`+lock), accountID, livemode).
		Scan(&r.accessSealed, &r.refreshSealed, &r.expiresAt, &r.scope, &r.userID, &r.status, &r.refreshes)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNoToken
	}
	if err != nil {
		return r, fmt.Errorf("oauth: load token: %w", err)
	}
	return r, nil
}

func (m *Manager) open(r row, accountID string, livemode bool) (Record, error) {
	rec := Record{AccountID: accountID, Livemode: livemode, ExpiresAt: time.UnixMicro(r.expiresAt).UTC(),
		Scope: r.scope, UserID: r.userID, Status: r.status, Refreshes: r.refreshes}
	var err error
	if rec.AccessToken, err = m.cfg.Keys.Open(r.accessSealed, ad(accountID, livemode, "access")); err != nil {
		return rec, &UnsealError{AccountID: accountID, Livemode: livemode, Err: err}
	}
	if rec.RefreshToken, err = m.cfg.Keys.Open(r.refreshSealed, ad(accountID, livemode, "refresh")); err != nil {
		return rec, &UnsealError{AccountID: accountID, Livemode: livemode, Err: err}
	}
	return rec, nil
}

// ErrUnseal: a stored token does not open with the configured keys (errors.Is target
// of every [UnsealError]).
var ErrUnseal = errors.New("the stored OAuth tokens do not open with APPBACKEND_ENCRYPTION_KEY")

// UnsealError says that an account's stored tokens cannot be opened with the keyring:
// APPBACKEND_ENCRYPTION_KEY is unset, or is not (or no longer lists) the key that
// sealed them. It is the server's configuration, not Stripe's: it unwraps to an
// apierror "unavailable" that names the variable, so that a call made with the token
// answers that, instead of a failure to reach the Stripe API.
type UnsealError struct {
	AccountID string
	Livemode  bool
	Err       error // secretbox's: ErrNoKey, ErrUnknownKey or ErrOpen
}

func (e *UnsealError) reason() string {
	mode := "test"
	if e.Livemode {
		mode = "live"
	}
	why := "does not hold the key they were sealed with"
	switch {
	case errors.Is(e.Err, secretbox.ErrNoKey):
		why = "is not set"
	case errors.Is(e.Err, secretbox.ErrOpen):
		why = "does not open them (the stored value was altered or copied from another row)"
	}
	return fmt.Sprintf("the OAuth tokens of %s (%s mode) cannot be opened: APPBACKEND_ENCRYPTION_KEY %s; set the key that sealed them (a new key goes first, the old one after it), and run `appbackend doctor`", e.AccountID, mode, why)
}

func (e *UnsealError) Error() string { return "oauth: " + e.reason() }

func (e *UnsealError) Unwrap() []error {
	return []error{e.Err, ErrUnseal, apierror.New(apierror.CodeUnavailable, upperFirst(e.reason()))}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// KeyCheck is what [Manager.CheckKeys] found.
type KeyCheck struct {
	Tokens   int      // token rows (an account in one mode)
	Unopened int      // rows whose tokens do not open with the keyring
	Accounts []string // the first few accounts of those rows, "acct_… (live)"
	Err      error    // the first row's failure, a secretbox error
}

// CheckKeys tries to open every stored token and restricted key with the keyring, without refreshing or
// caching anything: for `appbackend doctor`, which says before a call fails that the
// configured key is not the one the tokens were sealed with.
func (m *Manager) CheckKeys(ctx context.Context) (KeyCheck, error) {
	var c KeyCheck
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT account_id, livemode, access_token, refresh_token FROM appbackend_oauth_tokens ORDER BY account_id, livemode`)
	if err != nil {
		return c, fmt.Errorf("oauth: list tokens: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r row
		var account string
		var livemode bool
		if err := rows.Scan(&account, &livemode, &r.accessSealed, &r.refreshSealed); err != nil {
			return c, err
		}
		c.Tokens++
		_, err := m.open(r, account, livemode)
		var ue *UnsealError
		if !errors.As(err, &ue) {
			continue
		}
		c.Unopened++
		if c.Err == nil {
			c.Err = ue.Err
		}
		if len(c.Accounts) < 5 {
			mode := "test"
			if livemode {
				mode = "live"
			}
			c.Accounts = append(c.Accounts, account+" ("+mode+")")
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	return c, m.checkRestrictedKeys(ctx, &c)
}

// SaveTx stores the tokens of a code exchange for (account, livemode) in tx, replacing
// any earlier ones (a reinstall), active.
func (m *Manager) SaveTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool, userID string, t Token) error {
	access, err := m.cfg.Keys.Seal(t.AccessToken, ad(accountID, livemode, "access"))
	if err != nil {
		return err
	}
	refresh, err := m.cfg.Keys.Seal(t.RefreshToken, ad(accountID, livemode, "refresh"))
	if err != nil {
		return err
	}
	now := m.Now()
	expires := now.Add(t.lifetime())
	_, err = tx.ExecContext(ctx, m.q(`INSERT INTO appbackend_oauth_tokens
		(account_id, livemode, access_token, refresh_token, expires_at, scope, user_id, status, refreshes, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
		ON CONFLICT (account_id, livemode) DO UPDATE SET access_token = excluded.access_token,
		refresh_token = excluded.refresh_token, expires_at = excluded.expires_at, scope = excluded.scope,
		user_id = excluded.user_id, status = excluded.status, updated_at = excluded.updated_at`),
		accountID, livemode, access, refresh, expires.UnixMicro(), t.Scope, userID, StatusActive, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("oauth: save token: %w", err)
	}
	m.forget(accountID, livemode)
	return nil
}

// DeleteTx deletes the tokens and the restricted key of (account, livemode) (the app
// was uninstalled).
func (m *Manager) DeleteTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error {
	if _, err := tx.ExecContext(ctx, m.q(`DELETE FROM appbackend_oauth_tokens WHERE account_id = ? AND livemode = ?`), accountID, livemode); err != nil {
		return fmt.Errorf("oauth: delete token: %w", err)
	}
	if err := m.DeleteRestrictedKeyTx(ctx, tx, accountID, livemode); err != nil {
		return err
	}
	m.forget(accountID, livemode)
	return nil
}

func (m *Manager) forget(accountID string, livemode bool) {
	m.mu.Lock()
	delete(m.cache, tokenKey{accountID, livemode})
	m.mu.Unlock()
}

// Get loads the decrypted record of (account, livemode) without refreshing.
func (m *Manager) Get(ctx context.Context, accountID string, livemode bool) (Record, error) {
	r, err := m.load(ctx, m.cfg.DB, accountID, livemode, "")
	if err != nil {
		return Record{}, err
	}
	return m.open(r, accountID, livemode)
}

func (m *Manager) fresh(c cached, stale string) bool {
	return c.access != "" && c.access != stale && m.Now().Add(m.cfg.RefreshMargin).Before(c.expiresAt)
}

// AccessToken returns a usable access token for (account, livemode), refreshing it
// first if it expires within the refresh margin. stale, when set, is a token Stripe
// just answered 401 for: a different stored token is returned, else it is refreshed.
func (m *Manager) AccessToken(ctx context.Context, accountID string, livemode bool, stale string) (string, error) {
	k := tokenKey{accountID, livemode}
	m.mu.Lock()
	c := m.cache[k]
	m.mu.Unlock()
	if m.fresh(c, stale) {
		return c.access, nil
	}
	// One refresh per account and mode in this process; other replicas wait on the row.
	l := m.keyLock(k)
	l.Lock()
	defer l.Unlock()
	m.mu.Lock()
	c = m.cache[k]
	m.mu.Unlock()
	if m.fresh(c, stale) {
		return c.access, nil
	}
	// A token another replica refreshed is read without a write transaction first.
	r, err := m.load(ctx, m.queryerFor(ctx), accountID, livemode, "")
	if err != nil {
		m.forget(accountID, livemode) // deleted by another replica's uninstall
		return "", err
	}
	if r.status != StatusActive {
		return "", ErrReauthorizationRequired
	}
	rec, err := m.open(r, accountID, livemode)
	if err != nil {
		return "", err
	}
	if c := (cached{rec.AccessToken, rec.ExpiresAt}); m.fresh(c, stale) {
		m.remember(k, c)
		return c.access, nil
	}
	return m.refresh(ctx, accountID, livemode, func(rec Record) bool {
		return !m.fresh(cached{rec.AccessToken, rec.ExpiresAt}, stale)
	})
}

func (m *Manager) remember(k tokenKey, c cached) {
	m.mu.Lock()
	m.cache[k] = c
	m.mu.Unlock()
}

// refresh takes the row lock and, if needs says the token it finds there needs it
// (it may have been refreshed by another replica while this one waited), refreshes at
// Stripe and stores the result before the lock is released.
func (m *Manager) refresh(ctx context.Context, accountID string, livemode bool, needs func(Record) bool) (string, error) {
	k := tokenKey{accountID, livemode}
	var access string
	var result error
	err := store.InTx(ctx, m.cfg.DB, func(tx *sql.Tx) error {
		r, err := m.load(ctx, tx, accountID, livemode, m.lockRow())
		if err != nil {
			return err
		}
		if r.status != StatusActive {
			result = ErrReauthorizationRequired
			return nil
		}
		rec, err := m.open(r, accountID, livemode)
		if err != nil {
			return err
		}
		if !needs(rec) {
			access = rec.AccessToken
			m.remember(k, cached{rec.AccessToken, rec.ExpiresAt})
			return nil
		}
		t, err := m.cfg.Endpoint.Refresh(ctx, livemode, rec.RefreshToken)
		now := m.Now()
		if errors.Is(err, ErrInvalidGrant) {
			m.mu.Lock()
			m.counts.InvalidGrants++
			m.mu.Unlock()
			m.Logger().WarnContext(ctx, "OAuth refresh token refused: the merchant must reauthorize",
				"account_id", accountID, "livemode", livemode)
			if _, err := tx.ExecContext(ctx, m.q(`UPDATE appbackend_oauth_tokens SET status = ?, updated_at = ?
				WHERE account_id = ? AND livemode = ?`), StatusReauthorizationRequired, now.UnixMicro(), accountID, livemode); err != nil {
				return err
			}
			if m.cfg.OnReauthorizationRequired != nil {
				if err := m.cfg.OnReauthorizationRequired(ctx, tx, accountID, livemode); err != nil {
					return err
				}
			}
			m.forget(accountID, livemode)
			result = ErrReauthorizationRequired
			return nil
		}
		if err != nil {
			return err
		}
		if t.RefreshToken == "" {
			t.RefreshToken = rec.RefreshToken // not rotated
		}
		accessSealed, err := m.cfg.Keys.Seal(t.AccessToken, ad(accountID, livemode, "access"))
		if err != nil {
			return err
		}
		refreshSealed, err := m.cfg.Keys.Seal(t.RefreshToken, ad(accountID, livemode, "refresh"))
		if err != nil {
			return err
		}
		expires := now.Add(t.lifetime())
		if _, err := tx.ExecContext(ctx, m.q(`UPDATE appbackend_oauth_tokens SET access_token = ?, refresh_token = ?,
			expires_at = ?, refreshes = refreshes + 1, refreshed_at = ?, updated_at = ?
			WHERE account_id = ? AND livemode = ?`),
			accessSealed, refreshSealed, expires.UnixMicro(), now.UnixMicro(), now.UnixMicro(), accountID, livemode); err != nil {
			return fmt.Errorf("oauth: store refreshed token: %w", err)
		}
		m.mu.Lock()
		m.counts.Refreshes++
		m.mu.Unlock()
		access = t.AccessToken
		m.remember(k, cached{t.AccessToken, expires})
		return nil
	})
	if err != nil {
		m.forget(accountID, livemode)
		return "", err
	}
	return access, result
}

// RefreshDue refreshes every active token that expires within `within`, one account
// at a time, and returns how many it refreshed and the first error (it goes on after
// one). A schedule calls it so that request paths seldom refresh.
func (m *Manager) RefreshDue(ctx context.Context, within time.Duration) (int, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, m.q(`SELECT account_id, livemode FROM appbackend_oauth_tokens
		WHERE status = ? AND expires_at < ? ORDER BY expires_at`), StatusActive, m.Now().Add(within).UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("oauth: list due tokens: %w", err)
	}
	var due []tokenKey
	for rows.Next() {
		var k tokenKey
		if err := rows.Scan(&k.account, &k.livemode); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	var first error
	for _, k := range due {
		before := m.Counts().Refreshes
		_, err := m.refreshDue(ctx, k, within)
		if err != nil && !errors.Is(err, ErrReauthorizationRequired) && first == nil {
			first = err
		}
		if m.Counts().Refreshes > before {
			n++
		}
	}
	return n, first
}

func (m *Manager) refreshDue(ctx context.Context, k tokenKey, within time.Duration) (string, error) {
	l := m.keyLock(k)
	l.Lock()
	defer l.Unlock()
	// A token another replica refreshed in the meantime lives past `within` and is
	// left alone.
	return m.refresh(ctx, k.account, k.livemode, func(rec Record) bool {
		return !m.Now().Add(within).Before(rec.ExpiresAt)
	})
}

func (m *Manager) keyLock(k tokenKey) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.locks[k]
	if l == nil {
		l = new(sync.Mutex)
		m.locks[k] = l
	}
	return l
}

// RotateKeys re-encrypts every token and restricted key not sealed by the keyring's
// first key, each row under its lock, and returns how many rows it rewrote. Run it after putting a new key
// first in APPBACKEND_ENCRYPTION_KEY; once it is done the old key can be removed.
func (m *Manager) RotateKeys(ctx context.Context) (int, error) {
	primary := m.cfg.Keys.PrimaryID()
	if primary == "" {
		return 0, secretbox.ErrNoKey
	}
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT account_id, livemode, access_token, refresh_token FROM appbackend_oauth_tokens`)
	if err != nil {
		return 0, fmt.Errorf("oauth: list tokens: %w", err)
	}
	var todo []tokenKey
	for rows.Next() {
		var k tokenKey
		var a, r string
		if err := rows.Scan(&k.account, &k.livemode, &a, &r); err != nil {
			rows.Close()
			return 0, err
		}
		ai, _ := secretbox.KeyID(a)
		ri, _ := secretbox.KeyID(r)
		if ai != primary || ri != primary {
			todo = append(todo, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, k := range todo {
		err := store.InTx(ctx, m.cfg.DB, func(tx *sql.Tx) error {
			r, err := m.load(ctx, tx, k.account, k.livemode, m.lockRow())
			if errors.Is(err, ErrNoToken) {
				return nil
			}
			if err != nil {
				return err
			}
			rec, err := m.open(r, k.account, k.livemode)
			if err != nil {
				return err
			}
			a, err := m.cfg.Keys.Seal(rec.AccessToken, ad(k.account, k.livemode, "access"))
			if err != nil {
				return err
			}
			rt, err := m.cfg.Keys.Seal(rec.RefreshToken, ad(k.account, k.livemode, "refresh"))
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, m.q(`UPDATE appbackend_oauth_tokens SET access_token = ?, refresh_token = ?
				WHERE account_id = ? AND livemode = ?`), a, rt, k.account, k.livemode)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("oauth: re-encrypt the token of %s: %w", k.account, err)
		}
		n++
	}
	rk, err := m.rotateRestrictedKeys(ctx, primary)
	return n + rk, err
}

// ActiveTx reports, in tx, whether (account, livemode) has an active OAuth token: the
// install callback asks it when the code it was given was already traded (by the
// install's apps.install.created event).
func (m *Manager) ActiveTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) (bool, error) {
	r, err := m.load(ctx, tx, accountID, livemode, "")
	if errors.Is(err, ErrNoToken) {
		return false, nil
	}
	return err == nil && r.status == StatusActive, err
}

// Status returns the token status of (account, livemode): active,
// reauthorization_required, or "" without a token.
func (m *Manager) Status(ctx context.Context, accountID string, livemode bool) (string, error) {
	var s string
	err := m.cfg.DB.QueryRowContext(ctx, m.q(`SELECT status FROM appbackend_oauth_tokens WHERE account_id = ? AND livemode = ?`), accountID, livemode).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return s, err
}

// Keys is the keyring tokens are sealed with.
func (m *Manager) Keys() *secretbox.Keyring { return m.cfg.Keys }

// Endpoint is the token endpoint the Manager refreshes at.
func (m *Manager) Endpoint() *Endpoint { return m.cfg.Endpoint }

// RefreshLoop refreshes, every `every` until ctx ends, the tokens that expire within
// `within`, so that request paths seldom wait for a refresh. Replicas may all run it:
// the row lock lets one refresh and the others find the token fresh.
func (m *Manager) RefreshLoop(ctx context.Context, every, within time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := m.RefreshDue(ctx, within); err != nil && ctx.Err() == nil {
			m.Logger().WarnContext(ctx, "refreshing OAuth tokens", "err", err, "refreshed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
