package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/appbackend/appbackend/internal/store"
)

// InstallStateUsed implements [store.InstallUses]. It reads on the write pool: a use
// just committed must be seen by the next redirect, on any replica.
func (q *Queries) InstallStateUsed(ctx context.Context, stateHash string) (bool, error) {
	var n int
	err := q.write.QueryRowContext(ctx, q.rebind(`SELECT COUNT(*) FROM appbackend_install_uses WHERE state_hash = ?`), stateHash).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("load install state use: %w", err)
	}
	return n > 0, nil
}

// UseInstallStateTx implements [store.InstallUses].
func (q *Queries) UseInstallStateTx(ctx context.Context, tx *sql.Tx, u store.InstallUse) (bool, int, error) {
	if q.d.LockKey != "" {
		// Concurrent uses of one signature take turns, so the count below is exact;
		// SQLite's write transactions take turns anyway, from the INSERT on.
		if _, err := q.execTx(ctx, tx, q.d.LockKey, "appbackend.install_signature:"+u.SignatureKey); err != nil {
			return false, 0, fmt.Errorf("lock install signature: %w", err)
		}
	}
	res, err := q.execTx(ctx, tx, `INSERT INTO appbackend_install_uses
		(state_hash, signature_key, account_id, user_id, signed_as, used_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (state_hash) DO NOTHING`,
		u.StateHash, u.SignatureKey, u.AccountID, u.UserID, u.SignedAs, micros(u.UsedAt), micros(u.ExpiresAt))
	if err != nil {
		return false, 0, fmt.Errorf("record install state use: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return false, 0, err
	}
	var uses int
	if err := q.queryRowTx(ctx, tx, `SELECT COUNT(*) FROM appbackend_install_uses WHERE signature_key = ?`, u.SignatureKey).Scan(&uses); err != nil {
		return false, 0, fmt.Errorf("count install signature uses: %w", err)
	}
	return true, uses, nil
}

// DeleteInstallUses implements [store.InstallUses].
func (q *Queries) DeleteInstallUses(ctx context.Context, expiredBefore time.Time) (int64, error) {
	res, err := q.write.ExecContext(ctx, q.rebind(`DELETE FROM appbackend_install_uses WHERE expires_at < ?`), micros(expiredBefore))
	if err != nil {
		return 0, fmt.Errorf("delete expired install uses: %w", err)
	}
	return res.RowsAffected()
}
