package hook_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/hook"
)

func TestTriggerRunsByOrderThenBindOrder(t *testing.T) {
	t.Parallel()
	var h hook.Hook[string]
	var got []string
	record := func(name string) hook.Func[string] {
		return func(_ context.Context, e string) error {
			got = append(got, name+":"+e)
			return nil
		}
	}
	h.Bind("app 1", hook.Default, record("app1"))
	h.Bind("scheduler", hook.Last, record("sched"))
	h.Bind("app 2", hook.Default, record("app2"))
	h.Bind("lookup", hook.First, record("lookup"))
	h.Bind("app 3", hook.Default, record("app3"))

	require.NoError(t, h.Trigger(t.Context(), "acct"))
	require.Equal(t, []string{"lookup:acct", "app1:acct", "app2:acct", "app3:acct", "sched:acct"}, got)
	require.Equal(t, 5, h.Len())
}

func TestTriggerStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	var h hook.Hook[int]
	boom := errors.New("boom")
	ran := 0
	h.Bind("first", hook.Default, func(context.Context, int) error { ran++; return nil })
	h.Bind("failing", hook.Default, func(context.Context, int) error { ran++; return boom })
	h.Bind("never", hook.Default, func(context.Context, int) error { ran++; return nil })

	err := h.Trigger(t.Context(), 1)
	require.ErrorIs(t, err, boom)
	require.EqualError(t, err, "failing: boom")
	require.Equal(t, 2, ran)
}

func TestZeroHookTriggersNothing(t *testing.T) {
	t.Parallel()
	var h hook.Hook[int]
	require.NoError(t, h.Trigger(t.Context(), 1))
}

func TestBindNilPanics(t *testing.T) {
	t.Parallel()
	var h hook.Hook[int]
	require.PanicsWithValue(t, `hook: nil handler for "x"`, func() { h.Bind("x", hook.Default, nil) })
}
