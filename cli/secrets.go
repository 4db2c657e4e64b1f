package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/setup"
)

// secretKind is a signing secret the CLI needs when --secret is not given, and where
// `serve` finds the same secret.
type secretKind struct {
	env    string // the variable serve reads, such as STRIPE_WEBHOOK_SECRETS
	devKey string // the setting serve --dev keeps in the database
	prefix string // absec_ or whsec_, for the message
}

var (
	appSecret     = secretKind{env: "STRIPE_APP_SECRETS", devKey: "dev.app_secret", prefix: "absec_"}
	webhookSecret = secretKind{env: "STRIPE_WEBHOOK_SECRETS", devKey: "dev.webhook_secret", prefix: "whsec_"}
)

// defaultSecret finds the secret a running `serve` on this configuration checks, when
// --secret is not given: the first of the environment variable, as serve uses it when
// it is set, else the one `serve --dev` generated and keeps in the database (serve uses
// that one only when the variable is empty). database is the APPBACKEND_DATABASE
// setting; a SQLite file that does not exist is not created. Neither: a usage error
// that says how to give one.
func defaultSecret(ctx context.Context, getenv func(string) string, database string, kind secretKind) (string, error) {
	if secrets := setup.SplitList(getenv(kind.env)); len(secrets) > 0 {
		return secrets[0], nil
	}
	secret, err := devSecret(ctx, database, kind.devKey)
	shown := setup.RedactDatabase(database)
	if err != nil {
		return "", fmt.Errorf("no --secret given, %s is unset, and the dev secret could not be read from %s: %w", kind.env, shown, err)
	}
	if secret == "" {
		return "", usagef("--secret is required: pass --secret %s…, set %s, or run `appbackend serve --dev` once on %s (APPBACKEND_DATABASE) to keep a dev secret there", kind.prefix, kind.env, shown)
	}
	return secret, nil
}

// devSecret reads a setting of serve --dev from the database, "" if it is not there.
func devSecret(ctx context.Context, database, key string) (string, error) {
	kind, path, err := setup.ParseDatabase(database)
	if err != nil {
		return "", usageError{err.Error()}
	}
	if kind == "sqlite" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return "", nil // no database yet, so no dev secret; do not create one
		}
	}
	st, err := setup.OpenStore(ctx, database, setup.StoreOptions{SkipMigrations: true})
	if err != nil {
		if errors.Is(err, appbackend.ErrConfig) {
			return "", usageError{err.Error()}
		}
		return "", err
	}
	defer st.Close()
	value, _, err := st.Setting(ctx, key)
	return value, err
}

// databaseFlag registers --database, defaulting to APPBACKEND_DATABASE, for commands
// that only read a dev secret from it.
func databaseFlag(f *flags, getenv func(string) string) *string {
	def := getenv("APPBACKEND_DATABASE")
	if def == "" {
		def = appbackend.DefaultDatabase
	}
	return f.String("database", def, "where serve --dev keeps its dev secrets, used when --secret is not given (APPBACKEND_DATABASE)")
}
