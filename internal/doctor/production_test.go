package doctor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/doctor"
)

func TestBackupAndCertificateChecks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	last := func(at time.Time, ok bool) func(context.Context) (time.Time, bool, error) {
		return func(context.Context) (time.Time, bool, error) { return at, ok, nil }
	}
	certs := func(m map[string]time.Time) func(context.Context) (map[string]time.Time, error) {
		return func(context.Context) (map[string]time.Time, error) { return m, nil }
	}
	cases := []struct {
		name     string
		in       doctor.Input
		want     []doctor.Severity
		contains string
	}{
		{name: "fresh backup", in: doctor.Input{BackupEvery: 24 * time.Hour, LastBackup: last(now.Add(-3*time.Hour), true)}},
		{name: "backup 3 days ago", in: doctor.Input{BackupEvery: 24 * time.Hour, LastBackup: last(now.Add(-72*time.Hour), true)},
			want: []doctor.Severity{doctor.Warning}, contains: "last backup was written 3 days ago"},
		// A backup running longer than a short interval is not stale; missing
		// intervals for minutes is.
		{name: "short interval, backup still running", in: doctor.Input{BackupEvery: 250 * time.Millisecond, LastBackup: last(now.Add(-3*time.Second), true)}},
		{name: "short interval, minutes missed", in: doctor.Input{BackupEvery: 250 * time.Millisecond, LastBackup: last(now.Add(-5*time.Minute), true)},
			want: []doctor.Severity{doctor.Warning}, contains: "last backup was written 5 minutes ago"},
		{name: "no backup yet", in: doctor.Input{BackupEvery: time.Hour, LastBackup: last(time.Time{}, false)},
			want: []doctor.Severity{doctor.Warning}, contains: "no scheduled backup"},
		{name: "certificate fine", in: doctor.Input{CertificateExpiry: certs(map[string]time.Time{"api.example.com": now.Add(60 * 24 * time.Hour)})}},
		{name: "certificate close", in: doctor.Input{CertificateExpiry: certs(map[string]time.Time{"api.example.com": now.Add(5 * 24 * time.Hour)})},
			want: []doctor.Severity{doctor.Warning}, contains: "expires in 5 days"},
		{name: "certificate expired", in: doctor.Input{CertificateExpiry: certs(map[string]time.Time{"api.example.com": now.Add(-3 * time.Hour)})},
			want: []doctor.Severity{doctor.Error}, contains: "expired 3 hours ago"},
		{name: "no certificate", in: doctor.Input{CertificateExpiry: certs(map[string]time.Time{"api.example.com": {}})},
			want: []doctor.Severity{doctor.Warning}, contains: "No certificate for api.example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			in.Now = now
			in.Config.AppSecrets = []string{"absec_x"}
			var got []doctor.Severity
			var msgs []string
			for _, f := range doctor.Run(t.Context(), in) {
				if f.Check == doctor.CheckBackupStale || f.Check == doctor.CheckCertificateExpiry {
					got = append(got, f.Severity)
					msgs = append(msgs, f.Message)
				}
			}
			require.Equal(t, tc.want, got, "findings: %v", msgs)
			if tc.contains != "" {
				require.Contains(t, strings.Join(msgs, " "), tc.contains)
			}
		})
	}
}
