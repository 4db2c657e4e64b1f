package appbackend_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

// The library's Dev mode, not only the CLI's, tells the developer what it generated.
func TestDevPrintsWhatItGenerated(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out := &syncBuffer{}
	ready := make(chan struct{})
	app, err := appbackend.New(appbackend.Config{
		Database: "sqlite:" + filepath.Join(t.TempDir(), "dev.db"),
		Dev:      true,
		DevOut:   out,
		Listener: ln,
		Ready:    func(net.Addr) { close(ready) },
		Logger:   slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-ready
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "appbackend call POST") }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	s := app.DevSecrets()
	require.True(t, strings.HasPrefix(s.AppSecret, "absec_"), "generated app secret %q", s.AppSecret)
	for _, want := range []string{"STRIPE_APP_SECRETS=" + s.AppSecret, "STRIPE_WEBHOOK_SECRETS=" + s.WebhookSecret,
		"APPBACKEND_ADMIN_TOKEN=" + s.AdminToken, "http://" + ln.Addr().String() + "/api/whoami"} {
		require.Contains(t, out.String(), want)
	}
}
