package events

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPruneEvery(t *testing.T) {
	t.Parallel()
	require.Equal(t, 500*time.Millisecond, pruneEvery(2*time.Second), "a 2s retention")
	require.Equal(t, time.Minute, pruneEvery(720*time.Hour), "the default retention")
}
