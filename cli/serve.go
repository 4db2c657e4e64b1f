package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/appbackend/appbackend"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, file *appbackend.ConfigFile, stdout, stderr io.Writer) error {
	cfg, err := serveConfig(args, getenv, file, stdout, stderr)
	if err != nil {
		return err
	}
	a := appOf(ctx) // the app this binary is (cli.App): its migrations and registrations
	a.configure(&cfg)
	app, err := appbackend.New(cfg)
	if err == nil {
		err = a.setup(app, getenv)
	}
	if err != nil {
		if errors.Is(err, appbackend.ErrAdminTokenTooShort) {
			return err // a weak secret, not a slip of the command line: exit 1
		}
		if errors.Is(err, appbackend.ErrConfig) {
			return usageError{err.Error()}
		}
		return err
	}
	err = app.Run(ctx)
	if errors.Is(err, appbackend.ErrConfig) && !errors.Is(err, appbackend.ErrAdminTokenTooShort) {
		return usageError{err.Error()}
	}
	return err
}

// serveConfig is serve's configuration: its flags (one per setting, from the settings
// table) over the layers layerConfig read.
func serveConfig(args []string, getenv func(string) string, file *appbackend.ConfigFile, stdout, stderr io.Writer) (appbackend.Config, error) {
	f := newFlags("serve", "appbackend serve [--dev] [flags]", stdout)
	settings := appbackend.RegisterConfigFlags(f.FlagSet)
	rest, err := f.parse(args)
	if err != nil {
		return appbackend.Config{}, err
	}
	if len(rest) > 0 {
		return appbackend.Config{}, usagef("unexpected argument %q", rest[0])
	}
	cfg, err := settings.Load(getenv, file)
	if err != nil {
		return cfg, usageError{err.Error()}
	}
	cfg.Logger = newLogger(stderr, cfg.LogLevel, cfg.LogFormat)

	// The banner goes to stdout once the server listens: the address (port 0 resolves
	// here), and in --dev (printed by the library to DevOut) the secrets and a command
	// that works as is.
	cfg.DevOut = stdout
	cfg.Ready = func(addr net.Addr) { fmt.Fprintf(stdout, "appbackend listening on http://%s\n", addr) }
	return cfg, nil
}

// newLogger is the logger of the settings APPBACKEND_LOG_LEVEL and APPBACKEND_LOG_FORMAT
// (which the settings table checked), on w.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
