package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/setup"
)

// pathRecorder is an HTTP server that records the paths it is asked for and answers
// like serve: events at /webhooks/stripe, the install link at /install and
// /install/callback, 404 elsewhere.
type pathRecorder struct {
	url   string
	mu    sync.Mutex
	paths []string
	body  []byte
}

func newPathRecorder(t *testing.T, prefix string) *pathRecorder {
	r := &pathRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		if len(b) > 0 {
			r.body = b
		}
		r.mu.Unlock()
		switch req.URL.Path {
		case prefix + "/webhooks/stripe":
			w.Write([]byte(`{"received":true}`))
		case prefix + "/install":
			http.Redirect(w, req, "https://marketplace.stripe.com/oauth/v2/authorize?state=st_1", http.StatusFound)
		case prefix + "/install/callback":
			w.Write([]byte("installed"))
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *pathRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.paths
	r.paths = nil
	return p
}

// TestTriggerURLTakesABaseURLOrTheEndpoint: trigger --url accepts the backend's base
// URL, as install-link --url does, and the whole webhook URL; a URL that reaches no
// endpoint says which path serve listens on.
func TestTriggerURLTakesABaseURLOrTheEndpoint(t *testing.T) {
	t.Parallel()
	r := newPathRecorder(t, "")
	for _, target := range []string{r.url, r.url + "/", r.url + "/webhooks/stripe"} {
		code, out, errOut := runCmd(t, nil, "trigger", "invoice.paid", "--account", "acct_1", "--url", target, "--secret", "whsec_url")
		require.Equal(t, 0, code, "--url %s: %s", target, errOut)
		require.Contains(t, out, "200 OK")
		require.Equal(t, []string{"/webhooks/stripe"}, r.take(), "--url %s", target)
	}
	code, _, errOut := runCmd(t, nil, "trigger", "invoice.paid", "--account", "acct_1", "--url", r.url+"/hooks", "--secret", "whsec_url")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "404")
	require.Contains(t, errOut, "/webhooks/stripe")
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)

	code, _, errOut = runCmd(t, nil, "trigger", "invoice.paid", "--account", "acct_1", "--url", "127.0.0.1:8080", "--secret", "whsec_url")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "http://127.0.0.1:8080")
}

// TestInstallLinkURLTakesTheSameURLs: install-link --url accepts the base URL (under a
// path prefix too), its /install URL and the webhook URL trigger takes.
func TestInstallLinkURLTakesTheSameURLs(t *testing.T) {
	t.Parallel()
	r := newPathRecorder(t, "/app")
	for _, target := range []string{r.url + "/app", r.url + "/app/", r.url + "/app/install", r.url + "/app/webhooks/stripe"} {
		code, out, errOut := runCmd(t, nil, "install-link", "--account", "acct_1", "--url", target, "--secret", "absec_url")
		require.Equal(t, 0, code, "--url %s: %s", target, errOut)
		require.Contains(t, out, "GET /install/callback → 200")
		require.Equal(t, []string{"/app/install", "/app/install/callback"}, r.take(), "--url %s", target)
	}
}

// TestTriggerRealisticObjects: charge.refunded and the other common types carry a
// realistic object (here through trigger; webhooktest tests every type), and a type
// without one says that its object is bare and how to fill it.
func TestTriggerRealisticObjects(t *testing.T) {
	t.Parallel()
	r := newPathRecorder(t, "")
	object := func() map[string]any {
		r.mu.Lock()
		defer r.mu.Unlock()
		var ev struct {
			Data struct {
				Object map[string]any `json:"object"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.body, &ev))
		return ev.Data.Object
	}
	code, out, errOut := runCmd(t, nil, "trigger", "charge.refunded", "--account", "acct_1", "--url", r.url, "--secret", "whsec_obj")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, "note:")
	obj := object()
	require.True(t, strings.HasPrefix(obj["id"].(string), "ch_"), obj)
	require.Equal(t, "charge", obj["object"])
	require.Equal(t, 2000.0, obj["amount"])
	require.Equal(t, 2000.0, obj["amount_refunded"])
	require.True(t, strings.HasPrefix(obj["customer"].(string), "cus_"), obj)

	code, _, errOut = runCmd(t, nil, "trigger", "refund.created", "--account", "acct_1", "--url", r.url, "--secret", "whsec_obj")
	require.Equal(t, 0, code, errOut)
	obj = object()
	require.True(t, strings.HasPrefix(obj["id"].(string), "re_"), obj)
	require.True(t, strings.HasPrefix(obj["charge"].(string), "ch_"), obj)

	code, out, errOut = runCmd(t, nil, "trigger", "product.created", "--account", "acct_1", "--url", r.url, "--secret", "whsec_obj")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "note: product.created has no realistic default object")
	require.Contains(t, out, "--data")
	require.Equal(t, "product", object()["object"])

	// With --data the author chose the fields: no note.
	code, out, errOut = runCmd(t, nil, "trigger", "product.created", "--account", "acct_1", "--url", r.url, "--secret", "whsec_obj", "--data", `{"name":"Widget"}`)
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, "note:")
}

// TestJobsShowsTheAccountOfScheduleRuns: a per-account schedule's run carries its
// account in its args, not in Enqueue's owner metadata; jobs shows it anyway.
func TestJobsShowsTheAccountOfScheduleRuns(t *testing.T) {
	t.Parallel()
	env := seedSchedulesAndJobs(t)
	ctx := context.Background()
	st, err := setup.OpenStore(ctx, env["APPBACKEND_DATABASE"], setup.StoreOptions{})
	require.NoError(t, err)
	client, err := river.NewClient(st.RiverDriver(), &river.Config{SkipUnknownJobCheck: true})
	require.NoError(t, err)
	_, err = client.Insert(ctx, schedule.RunArgs{Schedule: "refresh", AccountID: "acct_sched", Livemode: true}, nil)
	require.NoError(t, err)
	_, err = client.Insert(ctx, schedule.RunArgs{Schedule: "report"}, nil)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	code, stdout, stderr := runCmd(t, env, "jobs", "--json", "--kind", schedule.RunArgs{}.Kind())
	require.Equal(t, 0, code, stderr)
	var jobs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &jobs), stdout)
	require.Len(t, jobs, 2)
	require.Nil(t, jobs[0]["account_id"], "a platform schedule's run has no account")
	require.Equal(t, "acct_sched", jobs[1]["account_id"])

	code, stdout, stderr = runCmd(t, env, "jobs", "--kind", schedule.RunArgs{}.Kind())
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "acct_sched")
}
