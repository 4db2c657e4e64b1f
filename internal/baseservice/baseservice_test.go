package baseservice

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInitTakesTheArchetypesLoggerAndClock(t *testing.T) {
	var logs bytes.Buffer
	fixed := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var b Base
	b.Init(&Archetype{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return fixed }})
	require.Equal(t, fixed, b.Now())
	b.Logger().Info("hello")
	require.Contains(t, logs.String(), "hello")
}

func TestZeroBaseDiscardsAndUsesTheRealClock(t *testing.T) {
	var b Base
	require.NotNil(t, b.Logger())
	require.WithinDuration(t, time.Now(), b.Now(), time.Minute)
	b.Init(nil)
	require.NotNil(t, b.Logger())
	require.WithinDuration(t, time.Now(), b.Now(), time.Minute)
}
