package cli

import (
	"context"
	"time"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/internal/backup"
	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/doctor"
	"github.com/appbackend/appbackend/internal/store"
)

// addProductionChecks lets doctor look at the scheduled backups and the certificates
// the configuration asks for.
func addProductionChecks(in *doctor.Input, cfg appbackend.Config, st store.Store) {
	if cfg.BackupDir != "" {
		in.BackupEvery = cfg.BackupEvery
		if in.BackupEvery == 0 {
			in.BackupEvery = appbackend.DefaultBackupEvery
		}
		in.LastBackup = func(ctx context.Context) (time.Time, bool, error) {
			info, ok, err := backup.Last(ctx, st.Setting)
			return info.StartedAt, ok, err
		}
	}
	if db, ok := st.(certstore.DB); ok && len(cfg.Domains) > 0 {
		in.CertificateExpiry = func(ctx context.Context) (map[string]time.Time, error) {
			return appbackend.CertificateExpiry(ctx, db, cfg.Domains)
		}
	}
}
