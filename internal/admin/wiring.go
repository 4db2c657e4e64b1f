package admin

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/backup"
)

// RiverUIPrefix is where River's own UI is served, behind the dashboard's sign-in.
const RiverUIPrefix = "/admin/river"

// StartRiverUI builds River's own UI on client (for Config.RiverUI) and starts its
// background work, which ends with ctx.
func StartRiverUI(ctx context.Context, client *river.Client[*sql.Tx], logger *slog.Logger) (http.Handler, error) {
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    logger,
		Prefix:    RiverUIPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	return ui, nil
}

// LastBackup is Config.LastBackup for scheduled backups that record their latest run
// in the settings get reads (backup.Last): when it started and its file's name.
func LastBackup(get func(ctx context.Context, key string) (string, bool, error)) func(ctx context.Context) (time.Time, string, bool, error) {
	return func(ctx context.Context) (time.Time, string, bool, error) {
		info, ok, err := backup.Last(ctx, get)
		return info.StartedAt, filepath.Base(info.Path), ok, err
	}
}

// serveDisabled is a nil Handler's answer (see Handler.ServeHTTP).
func serveDisabled(w http.ResponseWriter, r *http.Request) {
	apierror.Write(w, r, nil, apierror.New(apierror.CodeNotFound, "the admin dashboard is disabled: set APPBACKEND_ADMIN_TOKEN"))
}
