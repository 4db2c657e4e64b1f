package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/gateway"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store/dbtest"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // the throwaway PostgreSQL server, if this process started one
	os.Exit(code)
}

// upstreamRecorder is the app's server: it records each call's webhook-id and body and
// answers 200 with answer.
type upstreamRecorder struct {
	mu     sync.Mutex
	bodies map[string][]byte
	answer string
}

func (u *upstreamRecorder) body(id string) ([]byte, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	b, ok := u.bodies[id]
	return b, ok
}

// An upstream job on each database: POST /v1/jobs enqueues it for the account, the
// worker calls the upstream with the job's id, attempt and body, and the upstream's
// JSON answer becomes the job's output; POST /v1/jobs/{id}/output reaches only the
// upstream's jobs.
func TestUpstreamJobsOnEachDatabase(t *testing.T) {
	t.Parallel()
	for name, open := range dbtest.Stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := &upstreamRecorder{bodies: map[string][]byte{}, answer: `{"rows":3}`}
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				up.mu.Lock()
				up.bodies[r.Header.Get(gateway.HeaderID)] = b
				up.mu.Unlock()
				io.WriteString(w, up.answer)
			}))
			t.Cleanup(upstream.Close)

			st := open(t)
			rt := runtime.New(runtime.Config{})
			rt.Open(st)
			svc := gateway.NewService(nil, gateway.ServiceConfig{Upstream: upstream.URL, MaxBody: 1 << 20})
			require.NoError(t, svc.Open(gateway.Deps{Secret: upstreamSecret, River: rt.River}))
			require.NoError(t, svc.AddWorkers(rt))
			rt.ConfigureRiver(func(c *river.Config) {
				c.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}
				c.FetchCooldown, c.FetchPollInterval = 10*time.Millisecond, 20*time.Millisecond
			})
			require.NoError(t, rt.Build())
			require.NoError(t, rt.River().Start(t.Context()))
			t.Cleanup(func() { _ = rt.River().Stop(t.Context()) })
			api := httptest.NewServer(svc.Handler())
			t.Cleanup(api.Close)
			post := func(path, body string) (int, string) {
				req, err := http.NewRequest(http.MethodPost, api.URL+path, strings.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+upstreamSecret)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				out, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return resp.StatusCode, string(out)
			}

			status, out := post("/v1/jobs", `{"call":"nonsense"}`)
			require.Equal(t, http.StatusBadRequest, status, out)
			status, out = post("/v1/jobs", `{"call":"POST /jobs/export","account_id":"acct_job","livemode":false,"body":{"format":"csv"}}`)
			require.Equal(t, http.StatusCreated, status, out)
			var created struct{ ID string }
			require.NoError(t, json.Unmarshal([]byte(out), &created))
			id, err := strconv.ParseInt(created.ID, 10, 64)
			require.NoError(t, err)

			var job *rivertype.JobRow
			require.Eventually(t, func() bool {
				j, err := rt.River().JobGet(t.Context(), id)
				job = j
				return err == nil && j.State == rivertype.JobStateCompleted
			}, appbackendtest.WaitTimeout, 20*time.Millisecond)
			body, ok := up.body(created.ID)
			require.True(t, ok, "the upstream got no call with webhook-id %s", created.ID)
			require.JSONEq(t, `{"id":"`+created.ID+`","account_id":"acct_job","livemode":false,"attempt":1,"body":{"format":"csv"}}`, string(body))
			require.JSONEq(t, `{"rows":3}`, string(job.Output()))

			// Progress replaces the output of the upstream's own job only.
			status, out = post("/v1/jobs/"+created.ID+"/output", `{"progress":1}`)
			require.Equal(t, http.StatusOK, status, out)
			job, err = rt.River().JobGet(t.Context(), id)
			require.NoError(t, err)
			require.JSONEq(t, `{"progress":1}`, string(job.Output()))
			status, out = post("/v1/jobs/"+created.ID+"/output", `not json`)
			require.Equal(t, http.StatusBadRequest, status, out)
			for _, other := range []string{"0", "x", "999999"} {
				status, out = post("/v1/jobs/"+other+"/output", `{}`)
				require.Equal(t, http.StatusNotFound, status, "%s: %s", other, out)
			}
		})
	}
}
