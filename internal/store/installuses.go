package store

import (
	"context"
	"database/sql"
	"time"
)

// InstallUse is one completed GET /install/callback: what makes an install link's
// redirect single-use, and bounds how many states one install_signature may complete.
type InstallUse struct {
	// StateHash names the redirect: a hash of its state, or of its signature when the
	// link sent no state. SignatureKey names the install_signature (or the OAuth code)
	// that vouched for it.
	StateHash    string
	SignatureKey string
	AccountID    string
	UserID       string
	SignedAs     string // which content install_signature covered, or "oauth_code"
	UsedAt       time.Time
	// ExpiresAt is when neither the state nor the signature can pass any more, and the
	// row may go.
	ExpiresAt time.Time
}

// InstallUses records the install-link redirects that completed.
type InstallUses interface {
	// InstallStateUsed reports whether a redirect of stateHash completed before.
	InstallStateUsed(ctx context.Context, stateHash string) (bool, error)
	// UseInstallStateTx records u in tx. It reports false, and records nothing, when
	// u.StateHash was used before; else it returns how many uses u.SignatureKey has
	// now, this one included. Concurrent uses of one signature take turns until their
	// transactions end, so the count is exact.
	UseInstallStateTx(ctx context.Context, tx *sql.Tx, u InstallUse) (inserted bool, signatureUses int, err error)
	// DeleteInstallUses deletes the uses that expired before the given time and
	// returns how many it deleted.
	DeleteInstallUses(ctx context.Context, expiredBefore time.Time) (int64, error)
}
