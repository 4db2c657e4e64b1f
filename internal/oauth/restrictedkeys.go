package oauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/appbackend/appbackend/internal/secretbox"
	"github.com/appbackend/appbackend/internal/store"
)

// Restricted-key apps (stripe_api_access_type "restricted_api_key"): on install Stripe
// shows the merchant a restricted key that they paste into the app's settings view. The
// Manager keeps it beside the OAuth tokens, sealed the same way (with its own additional
// data, so a sealed key cannot be moved to another account, mode or column), and marks it
// reauthorization_required when Stripe refuses it, as a refused refresh token is.

// ErrNoRestrictedKey: the account has no restricted key in that mode.
var ErrNoRestrictedKey = errors.New("no restricted key for this account and mode")

// ErrRestrictedKeyRejected: Stripe refused the stored restricted key (401); no call can
// be made for the account until the merchant pastes a new one.
var ErrRestrictedKeyRejected = errors.New("the merchant must paste a new restricted key: Stripe rejected the stored one")

// Auth kinds an account may call Stripe with, besides the platform key.
const (
	AuthOAuth         = "oauth"
	AuthRestrictedKey = "restricted_api_key"
)

// RestrictedKey is a stored restricted key, decrypted. Never log Key.
type RestrictedKey struct {
	AccountID string
	Livemode  bool
	Key       string
	Last4     string
	UserID    string
	Status    string // active | reauthorization_required
}

func rkAD(accountID string, livemode bool) string { return ad(accountID, livemode, "restricted_key") }

// Last4 is what may be shown of a key: its last four characters.
func Last4(key string) string {
	if len(key) <= 4 {
		return ""
	}
	return key[len(key)-4:]
}

// SaveRestrictedKeyTx stores the restricted key of (account, livemode) in tx, replacing
// any earlier one, active. The caller has checked it against Stripe.
func (m *Manager) SaveRestrictedKeyTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool, userID, key string) error {
	sealed, err := m.cfg.Keys.Seal(key, rkAD(accountID, livemode))
	if err != nil {
		return err
	}
	now := m.Now().UnixMicro()
	_, err = tx.ExecContext(ctx, m.q(`INSERT INTO appbackend_restricted_keys
		(account_id, livemode, api_key, key_last4, user_id, status, verified_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, livemode) DO UPDATE SET api_key = excluded.api_key, key_last4 = excluded.key_last4,
		user_id = excluded.user_id, status = excluded.status, verified_at = excluded.verified_at, updated_at = excluded.updated_at`),
		accountID, livemode, sealed, Last4(key), userID, StatusActive, now, now)
	if err != nil {
		return fmt.Errorf("oauth: save restricted key: %w", err)
	}
	return nil
}

// AuthKind tells how (account, livemode) calls Stripe: AuthOAuth, AuthRestrictedKey, or
// "" (the platform key and Stripe-Account), in one query, reading in ctx's open
// transaction if it carries one.
func (m *Manager) AuthKind(ctx context.Context, accountID string, livemode bool) (string, error) {
	m.mu.Lock()
	_, hit := m.cache[tokenKey{accountID, livemode}]
	m.mu.Unlock()
	if hit {
		return AuthOAuth, nil
	}
	var kind string
	err := m.queryerFor(ctx).QueryRowContext(ctx, m.q(`SELECT 'oauth' FROM appbackend_oauth_tokens WHERE account_id = ? AND livemode = ?
		UNION ALL SELECT 'restricted_api_key' FROM appbackend_restricted_keys WHERE account_id = ? AND livemode = ?`),
		accountID, livemode, accountID, livemode).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("oauth: %w", err)
	}
	return kind, nil
}

func (m *Manager) loadRestrictedKey(ctx context.Context, q queryer, accountID string, livemode bool, lock string) (RestrictedKey, string, error) {
	rk := RestrictedKey{AccountID: accountID, Livemode: livemode}
	var sealed string
	err := q.QueryRowContext(ctx, m.q(`SELECT api_key, key_last4, user_id, status FROM appbackend_restricted_keys
		WHERE account_id = ? AND livemode = ?`+lock), accountID, livemode).Scan(&sealed, &rk.Last4, &rk.UserID, &rk.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return rk, "", ErrNoRestrictedKey
	}
	if err != nil {
		return rk, "", fmt.Errorf("oauth: load restricted key: %w", err)
	}
	return rk, sealed, nil
}

// RestrictedKeyStatus returns the stored key of (account, livemode) without its secret:
// Last4, UserID and Status. ErrNoRestrictedKey without one.
func (m *Manager) RestrictedKeyStatus(ctx context.Context, accountID string, livemode bool) (RestrictedKey, error) {
	rk, _, err := m.loadRestrictedKey(ctx, m.cfg.DB, accountID, livemode, "")
	return rk, err
}

// RestrictedAPIKey returns the key to call Stripe with for (account, livemode). stale,
// when set, is the key Stripe just answered 401 for: if it is still the stored one, the
// row is marked reauthorization_required (with the OnReauthorizationRequired hook, in
// ctx's open transaction if it carries one) and ErrRestrictedKeyRejected returned; if the
// merchant pasted another key meanwhile, that one is returned.
func (m *Manager) RestrictedAPIKey(ctx context.Context, accountID string, livemode bool, stale string) (string, error) {
	var q queryer = m.cfg.DB
	tx, inTx := store.OpenTxFrom(ctx)
	if inTx {
		q = tx
	}
	rk, sealed, err := m.loadRestrictedKey(ctx, q, accountID, livemode, "")
	if err != nil {
		return "", err
	}
	if rk.Status != StatusActive {
		return "", ErrRestrictedKeyRejected
	}
	key, err := m.cfg.Keys.Open(sealed, rkAD(accountID, livemode))
	if err != nil {
		return "", &UnsealError{AccountID: accountID, Livemode: livemode, Err: err}
	}
	if stale == "" || key != stale {
		return key, nil
	}
	mark := func(tx *sql.Tx) error {
		rk, sealed, err := m.loadRestrictedKey(ctx, tx, accountID, livemode, m.lockRow())
		if err != nil || rk.Status != StatusActive {
			return err
		}
		// Only the key Stripe refused is marked: not one pasted since.
		if k, err := m.cfg.Keys.Open(sealed, rkAD(accountID, livemode)); err != nil || k != stale {
			return err
		}
		m.Logger().WarnContext(ctx, "restricted key rejected by Stripe: the merchant must paste a new one",
			"account_id", accountID, "livemode", livemode, "key_last4", rk.Last4)
		if _, err := tx.ExecContext(ctx, m.q(`UPDATE appbackend_restricted_keys SET status = ?, updated_at = ?
			WHERE account_id = ? AND livemode = ?`), StatusReauthorizationRequired, m.Now().UnixMicro(), accountID, livemode); err != nil {
			return fmt.Errorf("oauth: mark restricted key: %w", err)
		}
		if m.cfg.OnReauthorizationRequired != nil {
			return m.cfg.OnReauthorizationRequired(ctx, tx, accountID, livemode)
		}
		return nil
	}
	if inTx {
		// A second transaction would wait on this one's write lock on SQLite.
		err = mark(tx)
	} else {
		err = store.InTx(ctx, m.cfg.DB, mark)
	}
	if err != nil {
		return "", err
	}
	return "", ErrRestrictedKeyRejected
}

// DeleteRestrictedKeyTx deletes the restricted key of (account, livemode).
func (m *Manager) DeleteRestrictedKeyTx(ctx context.Context, tx *sql.Tx, accountID string, livemode bool) error {
	if _, err := tx.ExecContext(ctx, m.q(`DELETE FROM appbackend_restricted_keys WHERE account_id = ? AND livemode = ?`), accountID, livemode); err != nil {
		return fmt.Errorf("oauth: delete restricted key: %w", err)
	}
	return nil
}

// rotateRestrictedKeys re-encrypts every restricted key not sealed by the keyring's
// first key, as RotateKeys does the tokens.
func (m *Manager) rotateRestrictedKeys(ctx context.Context, primary string) (int, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT account_id, livemode, api_key FROM appbackend_restricted_keys`)
	if err != nil {
		return 0, fmt.Errorf("oauth: list restricted keys: %w", err)
	}
	var todo []tokenKey
	for rows.Next() {
		var k tokenKey
		var sealed string
		if err := rows.Scan(&k.account, &k.livemode, &sealed); err != nil {
			rows.Close()
			return 0, err
		}
		if id, _ := secretbox.KeyID(sealed); id != primary {
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
			_, sealed, err := m.loadRestrictedKey(ctx, tx, k.account, k.livemode, m.lockRow())
			if errors.Is(err, ErrNoRestrictedKey) {
				return nil
			}
			if err != nil {
				return err
			}
			key, err := m.cfg.Keys.Open(sealed, rkAD(k.account, k.livemode))
			if err != nil {
				return &UnsealError{AccountID: k.account, Livemode: k.livemode, Err: err}
			}
			resealed, err := m.cfg.Keys.Seal(key, rkAD(k.account, k.livemode))
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, m.q(`UPDATE appbackend_restricted_keys SET api_key = ? WHERE account_id = ? AND livemode = ?`),
				resealed, k.account, k.livemode)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("oauth: re-encrypt the restricted key of %s: %w", k.account, err)
		}
		n++
	}
	return n, nil
}

// checkRestrictedKeys adds the restricted keys to CheckKeys' findings.
func (m *Manager) checkRestrictedKeys(ctx context.Context, c *KeyCheck) error {
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT account_id, livemode, api_key FROM appbackend_restricted_keys ORDER BY account_id, livemode`)
	if err != nil {
		return fmt.Errorf("oauth: list restricted keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var account, sealed string
		var livemode bool
		if err := rows.Scan(&account, &livemode, &sealed); err != nil {
			return err
		}
		c.Tokens++
		if _, err := m.cfg.Keys.Open(sealed, rkAD(account, livemode)); err != nil {
			c.Unopened++
			if c.Err == nil {
				c.Err = err
			}
			if len(c.Accounts) < 5 {
				c.Accounts = append(c.Accounts, account+" ("+modeWord(livemode)+", restricted key)")
			}
		}
	}
	return rows.Err()
}

func modeWord(livemode bool) string {
	if livemode {
		return "live"
	}
	return "test"
}
