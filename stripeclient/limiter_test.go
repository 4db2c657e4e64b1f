package stripeclient

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccountLimiterForgetsIdleAccounts(t *testing.T) {
	t.Parallel()
	l := newAccountLimiter(2)
	var wg sync.WaitGroup
	for i := range 10_000 {
		wg.Go(func() {
			release, err := l.acquire(context.Background(), fmt.Sprintf("acct_%d", i%500))
			if err != nil {
				assert.Fail(t, fmt.Sprint(err))
				return
			}
			release()
		})
	}
	wg.Wait()
	require.Zero(t, l.tracked(), "no entry outlives its calls")
}

func TestAccountLimiterBoundsAndWakes(t *testing.T) {
	t.Parallel()
	l := newAccountLimiter(1)
	release, err := l.acquire(t.Context(), "acct_a")
	require.NoError(t, err)

	// Another account is not held up.
	other, err := l.acquire(t.Context(), "acct_b")
	require.NoError(t, err)
	other()

	// The same account waits, and gives up with its context.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = l.acquire(ctx, "acct_a")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, l.tracked())

	// A waiter gets the slot once it is released.
	got := make(chan struct{})
	go func() {
		r, err := l.acquire(context.Background(), "acct_a")
		if err == nil {
			r()
		}
		close(got)
	}()
	time.Sleep(10 * time.Millisecond)
	release()
	select {
	case <-got:
	case <-time.After(time.Second):
		require.FailNow(t, "the waiter never got the slot")
	}
	require.Zero(t, l.tracked())
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"seconds", "3", 3 * time.Second, true},
		{"zero", "0", 0, true},
		{"past date", "Mon, 02 Jan 2006 15:04:05 GMT", 0, true},
		{"garbage", "soon", 0, false},
		{"negative", "-1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := retryAfter(tt.header)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBackoffIsBounded(t *testing.T) {
	t.Parallel()
	tr := &transport{backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 50 {
			got := tr.backoffFor(attempt)
			require.LessOrEqual(t, got, want, "attempt %d", attempt)
			require.GreaterOrEqual(t, got, want*3/4, "attempt %d", attempt)
		}
	}
	// Large attempt numbers neither overflow nor exceed the cap.
	got := (&transport{backoff: time.Hour, maxBackoff: time.Second}).backoffFor(62)
	require.LessOrEqual(t, got, time.Second)
	require.GreaterOrEqual(t, got, 750*time.Millisecond)
}
