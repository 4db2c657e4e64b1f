package appauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestVerifyForgedBodyAllocations bounds the memory a forged request costs: a body that
// is valid JSON with a claimed identity, a current timestamp and a made-up v1 makes the
// verifier try every candidate, the body rebuilt as JSON.stringify prints it included.
// Building a tree of the body for that cost about 190 bytes per body byte; the streaming
// printer in a reused slot costs next to nothing. Not parallel: it reads the process's
// allocation counters.
func TestVerifyForgedBodyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled values, so allocations mean nothing")
	}
	body := forgedBody(1 << 20)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"body the scan reads", body},
		// An escaped key makes the allocation-free scan give up: the identity must then be
		// looked up, not parsed into a tree.
		{"body the scan gives up on", []byte(`{"user_id":"a","account_id":"b","\u0078"` + string(body[len(`{"user_id":"a","account_id":"b","x"`):]))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestVerifier(t, testSecret, testSecretNew)
			header := forgedHeader(testNow)
			const runs = 5
			// Warm up every stringify slot: their buffers are kept between requests.
			for range 2 * runtime.GOMAXPROCS(0) {
				_, err := v.VerifyRequest(header, tc.body, nil)
				require.ErrorIs(t, err, ErrNoValidSignature, "forged request: error %v, want ErrNoValidSignature", err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				_, _ = v.VerifyRequest(header, tc.body, nil)
			}
			runtime.ReadMemStats(&after)
			perByte := float64(after.TotalAlloc-before.TotalAlloc) / runs / float64(len(tc.body))
			t.Logf("%.3f bytes allocated per body byte", perByte)
			require.True(t, perByte <= 1, "verifying a forged body allocates %.1f bytes per body byte, want at most 1", perByte)
		})
	}
}

func TestVerifyBusy(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier([]string{testSecret}, WithClock(func() time.Time { return testNow }), WithLargeBodyLimit(1, 0))
	require.NoError(t, err)
	forged := forgedHeader(testNow)
	body := forgedBody(LargeBody + 100)
	def := newSigned(t)

	slot := <-v.largeBodySlots // another request is checking a large body
	if _, err := v.VerifyRequest(forged, body, nil); !errors.Is(err, ErrBusy) {
		require.FailNow(t, fmt.Sprintf("large body with every slot taken: error %v, want ErrBusy", err))
	}
	// Small bodies need no slot, whichever candidate they need.
	for _, small := range []string{
		`{"user_id":"` + testUser + `","account_id":"` + testAccount + `","x":[1]}`,
		"{\n  \"user_id\": \"" + testUser + "\",\n  \"account_id\": \"" + testAccount + "\"\n}",
	} {
		if _, err := v.VerifyRequest(def.header, []byte(small), nil); err != nil {
			require.FailNow(t, fmt.Sprintf("small body %q with every slot taken: %v", small, err))
		}
	}
	if _, err := v.VerifyRequest(forged, forgedBody(LargeBody), nil); !errors.Is(err, ErrNoValidSignature) {
		require.FailNow(t, fmt.Sprintf("forged small body with every slot taken: error %v, want ErrNoValidSignature", err))
	}
	res := serve(t, v.Protect(whoami), signedRequest("POST", "/api/whoami", forged, string(body)))
	require.False(t, res.status != http.StatusServiceUnavailable || errorCode(res) != "unavailable" ||
		res.header.Get("Retry-After") == "", "Protect with every slot taken: status %d, body %v, header %v; want 503 unavailable with Retry-After and CORS", res.status, res.body, res.header)
	require.Equal(t, "*", res.header.Get("Access-Control-Allow-Origin"), "Protect with every slot taken: status %d, body %v, header %v; want 503 unavailable with Retry-After and CORS", res.status, res.body, res.header)
	v.largeBodySlots <- slot
	if _, err := v.VerifyRequest(forged, body, nil); !errors.Is(err, ErrNoValidSignature) {
		require.FailNow(t, fmt.Sprintf("with the slot back: error %v, want ErrNoValidSignature", err))
	}
}

func errorCode(res response) string {
	e, _ := res.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// recordingBody is a request body that records how it is read: whether at all, and the
// largest buffer offered to Read compared with what had arrived by then.
type recordingBody struct {
	chunks    []string // delivered one per Read; then err
	err       error
	read      bool
	delivered int
	// worstOffer is the largest len(p) seen minus twice the bytes delivered before it.
	worstOffer int
}

func (b *recordingBody) Read(p []byte) (int, error) {
	b.read = true
	b.worstOffer = max(b.worstOffer, len(p)-2*b.delivered)
	if len(b.chunks) == 0 {
		return 0, b.err
	}
	n := copy(p, b.chunks[0])
	b.chunks[0] = b.chunks[0][n:]
	if b.chunks[0] == "" {
		b.chunks = b.chunks[1:]
	}
	b.delivered += n
	return n, nil
}

func (b *recordingBody) Close() error { return nil }

// TestProtectRefusesHeaderBeforeBody: a header that cannot verify is answered at once,
// without reading (or making room for) the body a client announced.
func TestProtectRefusesHeaderBeforeBody(t *testing.T) {
	t.Parallel()
	h := newTestVerifier(t, testSecret).Protect(whoami)
	sig := strings.Repeat("ab", 32)
	unix := func(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }
	for _, tc := range []struct {
		name, header, code string
	}{
		{"malformed", "t=" + unix(0) + ",v1=abc", "signature_invalid"},
		{"no timestamp", "v1=" + sig, "signature_invalid"},
		{"no v1", "t=" + unix(0) + ",v0=" + sig, "signature_invalid"},
		{"too old", "t=" + unix(-301*time.Second) + ",v1=" + sig, "signature_expired"},
		{"too new", "t=" + unix(301*time.Second) + ",v1=" + sig, "signature_expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &recordingBody{chunks: []string{defaultBody}, err: io.EOF}
			r := signedRequest("POST", "/api/whoami", tc.header, "")
			r.Body, r.ContentLength = body, 1<<20
			res := serve(t, h, r)
			require.Equal(t, http.StatusUnauthorized, res.status, "status %d, body %v; want 401 %s", res.status, res.body, tc.code)
			require.Equal(t, tc.code, errorCode(res), "status %d, body %v; want 401 %s", res.status, res.body, tc.code)
			require.False(t, body.read, "the body was read before the header was refused")
		})
	}
}

// TestProtectBodyMemoryFollowsArrival: the buffer offered to the body's Read never runs
// more than a few kilobytes ahead of twice what has arrived, whatever Content-Length
// announces, so stalled clients cannot reserve memory by announcing large bodies.
func TestProtectBodyMemoryFollowsArrival(t *testing.T) {
	t.Parallel()
	def := newSigned(t)
	h := newTestVerifier(t, testSecret).Protect(whoami)

	t.Run("announces 1 MiB, sends 100 bytes, stalls and drops", func(t *testing.T) {
		body := &recordingBody{chunks: []string{strings.Repeat(" ", 100)}, err: io.ErrUnexpectedEOF}
		r := signedRequest("POST", "/api/whoami", def.header, "")
		r.Body, r.ContentLength = body, 1<<20
		res := serve(t, h, r)
		require.Equal(t, http.StatusBadRequest, res.status, "status %d, want 400", res.status)
		if body.worstOffer > firstBodyChunk {
			require.FailNow(t, fmt.Sprintf("Read was offered %d bytes more than twice what had arrived, want at most %d", body.worstOffer, firstBodyChunk))
		}
	})
	t.Run("1 MiB body in pieces", func(t *testing.T) {
		content := defaultBody + strings.Repeat(" ", 1<<20-len(defaultBody))
		var chunks []string
		for rest := content; rest != ""; {
			n := min(len(rest), 1000)
			chunks, rest = append(chunks, rest[:n]), rest[n:]
		}
		body := &recordingBody{chunks: chunks, err: io.EOF}
		r := signedRequest("POST", "/api/whoami", def.header, "")
		r.Body, r.ContentLength = body, int64(len(content))
		res := serve(t, h, r)
		require.Equal(t, http.StatusOK, res.status, "status %d, want 200 with the whole body echoed", res.status)
		require.True(t, res.body["body"] == content, "status %d, want 200 with the whole body echoed", res.status)
		if body.worstOffer > firstBodyChunk {
			require.FailNow(t, fmt.Sprintf("Read was offered %d bytes more than twice what had arrived, want at most %d", body.worstOffer, firstBodyChunk))
		}
	})
	t.Run("longer than announced", func(t *testing.T) {
		body := &recordingBody{chunks: []string{defaultBody + "  "}, err: io.EOF}
		r := signedRequest("POST", "/api/whoami", def.header, "")
		r.Body, r.ContentLength = body, int64(len(defaultBody))
		res := serve(t, h, r)
		require.Equal(t, http.StatusBadRequest, res.status, "status %d, want 400", res.status)
	})
}
