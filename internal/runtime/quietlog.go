package runtime

import (
	"context"
	"log/slog"
)

// Quieter returns a handler that passes records below warn to h at debug: what River
// (and the migrations) report at info — a producer's job counts every 5 s, the client
// started and stopped, each migration applied — is routine for them but noise at the
// server's default level. Warnings and errors keep their level.
func Quieter(h slog.Handler) slog.Handler { return quieter{h} }

type quieter struct{ h slog.Handler }

func lower(l slog.Level) slog.Level { return min(l, slog.LevelDebug) }

// demoted is the level a record of level l is passed on at.
func demoted(l slog.Level) slog.Level {
	if l >= slog.LevelWarn {
		return l
	}
	return lower(l)
}

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, demoted(l))
}

func (q quieter) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demoted(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quieter) WithAttrs(attrs []slog.Attr) slog.Handler { return quieter{q.h.WithAttrs(attrs)} }
func (q quieter) WithGroup(name string) slog.Handler       { return quieter{q.h.WithGroup(name)} }

func slogQuieter(l *slog.Logger) *slog.Logger { return slog.New(Quieter(l.Handler())) }
