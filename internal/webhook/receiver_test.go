package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

func TestInstallInEachMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		livemode bool
	}{
		{"live", true},
		{"test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig{})
			body := webhooktest.Event("account.application.authorized",
				webhooktest.Account("acct_install"), webhooktest.Livemode(tc.livemode))
			b.postOK(t, body)
			b.waitStatus(t, eventID(t, body), store.EventProcessed)

			in, ok := b.installation(t, "acct_install", tc.livemode)
			require.False(t, !ok || in.Status != store.Installed || in.InstalledAt.IsZero(), "installation in %s = %+v (found %v), want installed with a time and an application id", tc.name, in, ok)
			require.NotEqual(t, "", in.ApplicationID, "installation in %s = %+v (found %v), want installed with a time and an application id", tc.name, in, ok)
			if _, ok := b.installation(t, "acct_install", !tc.livemode); ok {
				require.FailNow(t, "the other mode has an installation, want none")
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			got := len(b.installed)
			require.Equal(t, 1, got, "OnInstall ran %d times, want 1", got)
		})
	}
}

func TestSameEventOnBothEndpoints(t *testing.T) {
	t.Parallel()
	// An app installed in both modes gets test events on both endpoints: same id twice.
	b := setup(t, testConfig{})
	b.proc.On("customer.created", countEffect)
	body := webhooktest.Event("customer.created", webhooktest.Account("acct_both"))
	first, second := b.postOK(t, body), b.postOK(t, body)
	require.True(t, first.body["duplicate"] != true, "answers = %s, %s; want the second (only) marked duplicate", first.raw, second.raw)
	require.True(t, second.body["duplicate"] == true, "answers = %s, %s; want the second (only) marked duplicate", first.raw, second.raw)
	id := eventID(t, body)
	b.waitStatus(t, id, store.EventProcessed)
	time.Sleep(100 * time.Millisecond) // room for a wrong second processing
	got := b.eventCount(t)
	require.Equal(t, 1, got, "stored %d events, want 1", got)
	got = b.effects(t, id)
	require.Equal(t, 1, got, "effect applied %d times, want 1", got)
}

func TestDuplicateTenTimes(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	b.proc.On("*", countEffect)
	body := webhooktest.Event("invoice.paid", webhooktest.Account("acct_dup"))
	var (
		wg     sync.WaitGroup
		fresh  atomic.Int32
		failed atomic.Int32
	)
	for range 10 {
		wg.Go(func() {
			r := b.post(t, body)
			switch {
			case r.status != http.StatusOK:
				failed.Add(1)
			case r.body["duplicate"] != true:
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 || fresh.Load() != 1 {
		require.FailNow(t, fmt.Sprintf("%d failed, %d not duplicate; want 0 and 1", failed.Load(), fresh.Load()))
	}
	id := eventID(t, body)
	b.waitStatus(t, id, store.EventProcessed)
	time.Sleep(100 * time.Millisecond)
	got := b.effects(t, id)
	require.Equal(t, 1, got, "effect applied %d times, want 1", got)
}

func TestLifecycleOrdering(t *testing.T) {
	t.Parallel()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	type post struct {
		eventType string
		created   time.Duration // after base
		id        string
	}
	for _, tc := range []struct {
		name          string
		posts         []post
		want          store.InstallStatus
		installs      int // OnInstall calls
		uninstalls    int // OnUninstall calls
		wantInstalled bool
	}{
		{
			name:  "uninstall before install ends uninstalled",
			posts: []post{{"account.application.deauthorized", 10 * time.Second, ""}, {"account.application.authorized", 0, ""}},
			want:  store.Uninstalled, installs: 0, uninstalls: 1,
		},
		{
			name:  "install then uninstall",
			posts: []post{{"account.application.authorized", 0, ""}, {"account.application.deauthorized", time.Second, ""}},
			want:  store.Uninstalled, installs: 1, uninstalls: 1, wantInstalled: true,
		},
		{
			name: "reinstall",
			posts: []post{{"account.application.authorized", 0, ""}, {"account.application.deauthorized", time.Second, ""},
				{"account.application.authorized", 2 * time.Second, ""}},
			want: store.Installed, installs: 2, uninstalls: 1, wantInstalled: true,
		},
		{
			name: "same second: the greater id wins",
			posts: []post{{"account.application.deauthorized", 0, "evt_b"},
				{"account.application.authorized", 0, "evt_a"}},
			want: store.Uninstalled, installs: 0, uninstalls: 1,
		},
		{
			name: "apps.install events",
			posts: []post{{"apps.install.created", 0, ""}, {"apps.install.deleted", time.Second, ""},
				{"apps.install.created", 500 * time.Millisecond, ""}},
			want: store.Uninstalled, installs: 1, uninstalls: 1, wantInstalled: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig{})
			for _, p := range tc.posts {
				opts := []webhooktest.Option{webhooktest.Account("acct_order"), webhooktest.Live(),
					webhooktest.Created(base.Add(p.created))}
				if p.id != "" {
					opts = append(opts, webhooktest.ID(p.id))
				}
				body := webhooktest.Event(p.eventType, opts...)
				b.postOK(t, body)
				// Process in posting order, to test arrival order rather than the queue's.
				b.waitStatus(t, eventID(t, body), store.EventProcessed)
			}
			in, ok := b.installation(t, "acct_order", true)
			require.True(t, ok, "installation = %+v (found %v), want %s", in, ok, tc.want)
			require.Equal(t, tc.want, in.Status, "installation = %+v (found %v), want %s", in, ok, tc.want)
			got := !in.InstalledAt.IsZero()
			require.True(t, got == tc.wantInstalled, "installed_at set = %v, want %v", got, tc.wantInstalled)
			b.mu.Lock()
			installs, uninstalls := len(b.installed), len(b.removed)
			b.mu.Unlock()
			require.Equal(t, tc.installs, installs, "OnInstall ran %d, OnUninstall %d times; want %d and %d", installs, uninstalls, tc.installs, tc.uninstalls)
			require.Equal(t, tc.uninstalls, uninstalls, "OnInstall ran %d, OnUninstall %d times; want %d and %d", installs, uninstalls, tc.installs, tc.uninstalls)
		})
	}
}

func TestUninstallRunsCleanup(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	for _, body := range [][]byte{
		webhooktest.Event("account.application.authorized", webhooktest.Account("acct_gone"), webhooktest.Created(time.Now().Add(-time.Minute))),
		webhooktest.Event("account.application.deauthorized", webhooktest.Account("acct_gone")),
	} {
		b.postOK(t, body)
		b.waitStatus(t, eventID(t, body), store.EventProcessed)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		cleaned := append([]string(nil), b.cleanedUp...)
		b.mu.Unlock()
		if len(cleaned) == 1 && cleaned[0] == "acct_gone" {
			break
		}
		require.False(t, time.Now().After(deadline), "cleanup hooks ran for %v, want [acct_gone]", cleaned)
		time.Sleep(10 * time.Millisecond)
	}
	got := b.eventCount(t)
	require.Equal(t, 2, got, "%d events kept, want 2 (no retention set)", got)
}

func TestEventRetentionPurgesUninstalledAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{eventRetention: 50 * time.Millisecond})
	old := time.Now().Add(-time.Minute)
	for _, body := range [][]byte{
		webhooktest.Event("account.application.authorized", webhooktest.Account("acct_purged"), webhooktest.Created(old)),
		webhooktest.Event("customer.created", webhooktest.Account("acct_purged"), webhooktest.Created(old)),
		webhooktest.Event("customer.created", webhooktest.Account("acct_other")),
		webhooktest.Event("account.application.deauthorized", webhooktest.Account("acct_purged")),
	} {
		b.postOK(t, body)
		b.waitStatus(t, eventID(t, body), store.EventProcessed)
	}
	// River moves scheduled jobs to available every few seconds.
	deadline := time.Now().Add(20 * time.Second)
	for {
		left, err := b.st.ListEvents(context.Background(), store.EventFilter{AccountID: "acct_purged"})
		require.NoError(t, err)
		if len(left) == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "%d events of the uninstalled account left, want none", len(left))
		time.Sleep(50 * time.Millisecond)
	}
	kept, err := b.st.ListEvents(context.Background(), store.EventFilter{AccountID: "acct_other"})
	require.NoError(t, err, "other account's events = %d, %v; want 1 kept", len(kept), err)
	require.Len(t, kept, 1, "other account's events = %d, %v; want 1 kept", len(kept), err)
	in, ok := b.installation(t, "acct_purged", false)
	require.True(t, ok, "installation = %+v, %v; want kept as uninstalled", in, ok)
	require.Equal(t, store.Uninstalled, in.Status, "installation = %+v, %v; want kept as uninstalled", in, ok)
}

func TestAcceptedEventShapes(t *testing.T) {
	t.Parallel()
	thin := []byte(`{"id":"evt_thin_1","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered",` +
		`"livemode":false,"created":"2024-09-17T06:20:52.246Z","context":"acct_thin",` +
		`"related_object":{"id":"mtr_1","type":"billing.meter","url":"/v1/billing/meters/mtr_1"}}`)
	for _, tc := range []struct {
		name             string
		body             []byte
		wantAccount      string
		wantAPIVersion   string
		wantNotInstalled bool
	}{
		{"old api_version", webhooktest.Event("customer.created", webhooktest.APIVersion("2023-10-16"), webhooktest.ID("evt_old")), "", "2023-10-16", false},
		{"future api_version", webhooktest.Event("customer.created", webhooktest.APIVersion("2099-01-01.zeta"), webhooktest.ID("evt_future")), "", "2099-01-01.zeta", false},
		{"unknown type", webhooktest.Event("brand_new.thing.happened", webhooktest.ID("evt_unknown"), webhooktest.Account("acct_x")), "acct_x", webhooktest.DefaultAPIVersion, true},
		{"thin event", thin, "acct_thin", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testConfig{})
			b.postOK(t, tc.body)
			ev := b.waitStatus(t, eventID(t, tc.body), store.EventProcessed)
			require.False(t, ev.AccountID != tc.wantAccount || ev.APIVersion != tc.wantAPIVersion || ev.NotInstalled != tc.wantNotInstalled, "stored account %q, api_version %q, not_installed %v; want %q, %q, %v", ev.AccountID, ev.APIVersion, ev.NotInstalled, tc.wantAccount, tc.wantAPIVersion, tc.wantNotInstalled)
			require.Equal(t, tc.body, ev.Raw, "raw bytes not kept as sent")
		})
	}
}

func TestNotInstalledMark(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	install := webhooktest.Event("account.application.authorized", webhooktest.Account("acct_in"), webhooktest.Live())
	b.postOK(t, install)
	b.waitStatus(t, eventID(t, install), store.EventProcessed)
	for _, tc := range []struct {
		name string
		body []byte
		want bool
	}{
		{"installed account and mode", webhooktest.Event("customer.created", webhooktest.Account("acct_in"), webhooktest.Live()), false},
		{"installed account, other mode", webhooktest.Event("customer.created", webhooktest.Account("acct_in")), true},
		{"unknown account", webhooktest.Event("customer.created", webhooktest.Account("acct_out"), webhooktest.Live()), true},
		{"platform event", webhooktest.Event("customer.created", webhooktest.Live()), false},
	} {
		b.postOK(t, tc.body)
		ev := b.waitStatus(t, eventID(t, tc.body), store.EventProcessed)
		require.True(t, ev.NotInstalled == tc.want, "%s: not_installed = %v, want %v", tc.name, ev.NotInstalled, tc.want)
	}
}

func TestRejectedRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{maxBody: 4096})
	valid := webhooktest.Event("customer.created")
	now := time.Now()
	for _, tc := range []struct {
		name       string
		body       []byte
		header     string
		wantStatus int
		wantCode   string
	}{
		{"no signature", valid, "", 400, "signature_missing"},
		{"wrong secret", valid, webhooktest.Sign(valid, "whsec_wrong", now), 400, "signature_invalid"},
		{"signature of another body", valid, webhooktest.Sign([]byte(`{}`), secret, now), 400, "signature_invalid"},
		{"malformed header", valid, "garbage", 400, "signature_invalid"},
		{"too old", valid, webhooktest.Sign(valid, secret, now.Add(-301*time.Second)), 400, "signature_expired"},
		{"too far in the future", valid, webhooktest.Sign(valid, secret, now.Add(301*time.Second)), 400, "signature_expired"},
		{"body over the limit", bytes.Repeat([]byte("a"), 4097), "t=1,v1=00", 413, "body_too_large"},
		{"not JSON", []byte(`{"id":"evt_1","type":`), "", 400, "bad_request"},
		{"JSON array", []byte(`[{"id":"evt_1","type":"x"}]`), "", 400, "bad_request"},
		{"no id", []byte(`{"object":"event","type":"customer.created"}`), "", 400, "bad_request"},
		{"no type", []byte(`{"id":"evt_no_type","object":"event"}`), "", 400, "bad_request"},
		{"id of the wrong type", []byte(`{"id":12,"type":"customer.created"}`), "", 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header == "" && tc.wantCode == "bad_request" {
				header = webhooktest.Sign(tc.body, secret, now)
			}
			r := b.postWithHeader(t, tc.body, header)
			require.Equal(t, tc.wantStatus, r.status, "POST = %d %s, want %d with code %s", r.status, r.raw, tc.wantStatus, tc.wantCode)
			require.Equal(t, tc.wantCode, r.errorCode(), "POST = %d %s, want %d with code %s", r.status, r.raw, tc.wantStatus, tc.wantCode)
		})
	}
	t.Run("body over the limit without Content-Length", func(t *testing.T) {
		body := bytes.Repeat([]byte("a"), 5000)
		req, _ := http.NewRequest(http.MethodPost, b.url, io.MultiReader(bytes.NewReader(body)))
		req.ContentLength = -1
		req.Header.Set("Stripe-Signature", webhooktest.Sign(body, secret, now))
		r := do(t, req)
		require.Equal(t, 413, r.status, "POST = %d %s, want 413 body_too_large", r.status, r.raw)
		require.Equal(t, "body_too_large", r.errorCode(), "POST = %d %s, want 413 body_too_large", r.status, r.raw)
	})
	got := b.eventCount(t)
	require.Equal(t, 0, got, "%d events stored from rejected requests, want 0", got)
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	for _, tc := range []struct {
		name   string
		header func(body []byte) string
	}{
		{"old secret", func(body []byte) string { return webhooktest.Sign(body, oldSecret, time.Now()) }},
		{"both signatures, unknown first", func(body []byte) string {
			now := time.Now()
			v1 := strings.Split(webhooktest.Sign(body, secret, now), ",v1=")[1]
			return fmt.Sprintf("t=%d,v1=%s,v1=%s", now.Unix(), strings.Repeat("0", 64), v1)
		}},
	} {
		body := webhooktest.Event("customer.created")
		r := b.postWithHeader(t, body, tc.header(body))
		require.Equal(t, http.StatusOK, r.status, "%s: POST = %d %s, want 200", tc.name, r.status, r.raw)
	}
}

func TestHandlerFailsTwiceThenSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	var calls atomic.Int32
	b.proc.On("customer.created", func(ctx context.Context, ev store.Event) error {
		if err := countEffect(ctx, ev); err != nil {
			return err
		}
		if calls.Add(1) <= 2 {
			return errors.New("downstream unavailable")
		}
		return nil
	})
	body := webhooktest.Event("customer.created")
	b.postOK(t, body)
	ev := b.waitStatus(t, eventID(t, body), store.EventProcessed)
	if ev.Attempts != 3 || calls.Load() != 3 {
		require.FailNow(t, fmt.Sprintf("attempts = %d, handler calls = %d; want 3 and 3", ev.Attempts, calls.Load()))
	}
	// The failed attempts' writes rolled back with them.
	got := b.effects(t, ev.ID)
	require.Equal(t, 1, got, "effect applied %d times, want 1", got)
}

func TestDeadEventReplay(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{maxAttempts: 3})
	var fixed atomic.Bool
	b.proc.On("invoice.paid", func(ctx context.Context, ev store.Event) error {
		if !fixed.Load() {
			return errors.New("bug in handler")
		}
		return countEffect(ctx, ev)
	})
	body := webhooktest.Event("invoice.paid")
	id := eventID(t, body)
	b.postOK(t, body)
	dead := b.waitStatus(t, id, store.EventDead)
	require.Equal(t, 3, dead.Attempts, "dead event: attempts %d, last_error %q; want 3 and the handler's error", dead.Attempts, dead.LastError)
	require.Contains(t, dead.LastError, "bug in handler", "dead event: attempts %d, last_error %q; want 3 and the handler's error", dead.Attempts, dead.LastError)
	// Stripe redelivering it does not revive it: only a replay does.
	r := b.postOK(t, body)
	require.True(t, r.body["duplicate"] == true, "redelivery answered %s, want duplicate", r.raw)
	fixed.Store(true)
	require.NoError(t, b.proc.Replay(context.Background(), id))
	ev := b.waitStatus(t, id, store.EventProcessed)
	if ev.LastError != "" || b.effects(t, id) != 1 {
		require.FailNow(t, fmt.Sprintf("after replay: last_error %q, effects %d; want none and 1", ev.LastError, b.effects(t, id)))
	}
	// Replaying a processed event runs it again, on purpose.
	require.NoError(t, b.proc.Replay(context.Background(), id))
	deadline := time.Now().Add(10 * time.Second)
	for b.effects(t, id) != 2 {
		if time.Now().After(deadline) {
			require.FailNow(t, fmt.Sprintf("effects after second replay = %d, want 2", b.effects(t, id)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := b.proc.Replay(context.Background(), "evt_missing")
	require.ErrorIs(t, err, store.ErrNotFound, "Replay(unknown) = %v, want ErrNotFound", err)
}

func TestBacklogOfSingleEventJobs(t *testing.T) {
	t.Parallel()
	// Events acknowledged one at a time while processing is stopped wait in one job
	// each; processing takes them over in batches. A failing event keeps its own job,
	// attempts and backoff.
	b := setup(t, testConfig{noProcessing: true, maxAttempts: 2})
	b.proc.On("*", func(ctx context.Context, ev store.Event) error {
		if ev.Type == "invoice.payment_failed" {
			return errors.New("cannot handle this one")
		}
		return countEffect(ctx, ev)
	})
	var ids []string
	failing := ""
	for i := range 30 {
		eventType := "customer.created"
		if i == 7 {
			eventType = "invoice.payment_failed"
		}
		body := webhooktest.Event(eventType)
		b.postOK(t, body)
		ids = append(ids, eventID(t, body))
		if i == 7 {
			failing = ids[i]
		}
	}
	require.NoError(t, b.rt.Start(context.Background()))
	for _, id := range ids {
		if id == failing {
			continue
		}
		b.waitStatus(t, id, store.EventProcessed)
		got := b.effects(t, id)
		require.Equal(t, 1, got, "event %s: effect applied %d times, want 1", id, got)
	}
	dead := b.waitStatus(t, failing, store.EventDead)
	require.Equal(t, 2, dead.Attempts, "failing event: %d attempts recorded, want 2 (its job's own)", dead.Attempts)
	waiting, err := b.rt.River().JobList(context.Background(), river.NewJobListParams().
		Kinds(events.ProcessEventsArgs{}.Kind()).States(rivertype.JobStateAvailable, rivertype.JobStateRetryable))
	require.NoError(t, err)
	if len(waiting.Jobs) != 0 {
		require.FailNow(t, fmt.Sprintf("%d event jobs still waiting, want none", len(waiting.Jobs)))
	}
}

func TestHandlerPanicIsAnError(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	var calls atomic.Int32
	b.proc.On("*", func(ctx context.Context, ev store.Event) error {
		if calls.Add(1) == 1 {
			var m map[string]int
			m["boom"]++ // nil map write
		}
		return countEffect(ctx, ev)
	})
	body := webhooktest.Event("payment_intent.succeeded")
	b.postOK(t, body)
	ev := b.waitStatus(t, eventID(t, body), store.EventProcessed)
	if ev.Attempts != 2 || b.effects(t, ev.ID) != 1 {
		require.FailNow(t, fmt.Sprintf("attempts %d, effects %d; want 2 and 1", ev.Attempts, b.effects(t, ev.ID)))
	}
}

func TestConcurrentSendersWithDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	b.proc.On("*", countEffect)
	const senders, perSender = 64, 10
	// Every event is sent by two different senders.
	bodies := make([][]byte, senders*perSender/2)
	for i := range bodies {
		bodies[i] = webhooktest.Event("customer.updated", webhooktest.Account(fmt.Sprintf("acct_%d", i%7)))
	}
	var (
		wg    sync.WaitGroup
		acked sync.Map
		fresh atomic.Int32
	)
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				body := bodies[(s*perSender+i)%len(bodies)]
				if s%2 == 1 {
					body = bodies[(s*perSender+perSender-1-i)%len(bodies)]
				}
				r := b.post(t, body)
				if r.status != http.StatusOK {
					assert.Fail(t, fmt.Sprintf("POST = %d %s", r.status, r.raw))
					continue
				}
				if r.body["duplicate"] != true {
					fresh.Add(1)
				}
				acked.Store(eventID(t, body), true)
			}
		})
	}
	wg.Wait()
	n := 0
	acked.Range(func(k, _ any) bool {
		b.waitStatus(t, k.(string), store.EventProcessed)
		got := b.effects(t, k.(string))
		require.Equal(t, 1, got, "event %s: effect applied %d times, want 1", k, got)
		n++
		return true
	})
	if n != len(bodies) || int(fresh.Load()) != len(bodies) || b.eventCount(t) != len(bodies) {
		require.FailNow(t, fmt.Sprintf("acknowledged %d distinct, %d fresh, stored %d; want %d each", n, fresh.Load(), b.eventCount(t), len(bodies)))
	}
	st := b.rcv.Stats()
	require.Less(t, st.Batches, int64(senders*perSender), "%d commits for %d requests: arrivals were not grouped", st.Batches, senders*perSender)
}

func TestUnavailableDatabaseAnswers503(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{noProcessing: true})
	b.st.DB().Close() // every commit now fails
	r := b.post(t, webhooktest.Event("customer.created"))
	require.Equal(t, http.StatusServiceUnavailable, r.status, "POST = %d %s, want 503 unavailable", r.status, r.raw)
	require.Equal(t, "unavailable", r.errorCode(), "POST = %d %s, want 503 unavailable", r.status, r.raw)
}

func TestCloseDrainsThenRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{noProcessing: true})
	body := webhooktest.Event("customer.created")
	b.postOK(t, body)
	require.NoError(t, b.rcv.Close(context.Background()))
	r := b.post(t, webhooktest.Event("customer.created"))
	require.Equal(t, http.StatusServiceUnavailable, r.status, "POST after Close = %d %s, want 503", r.status, r.raw)
	ev, err := b.st.Event(context.Background(), eventID(t, body))
	require.NoError(t, err, "acknowledged event = %+v, %v; want stored as pending", ev, err)
	require.Equal(t, store.EventPending, ev.Status, "acknowledged event = %+v, %v; want stored as pending", ev, err)
}
