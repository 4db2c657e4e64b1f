package appauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The signatures Node computes for fetchStripeSignature({livemode}) on a GET: HMAC-SHA256
// under testSecret at testUnix over JSON.stringify({...{livemode}, user_id, account_id}).
const (
	nodeLivemodeFalseV1 = "a6e087d6f9d0400b6b4206a8721c62503b60678fecb3ef6962cf721c9b3572d1"
	nodeLivemodeTrueV1  = "7e6d3281747955704d4e8bcbbd2d1632c0c49b411ef8ce8b526a590840c6070e"
)

func identityQuery(extra ...string) url.Values {
	q := url.Values{"user_id": {testUser}, "account_id": {testAccount}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Add(extra[i], extra[i+1])
	}
	return q
}

// TestVerifyRequestSignedQueryLivemode: a GET says its mode with ?livemode=, signed as
// {"livemode":…,"user_id":…,"account_id":…}; the verified Identity carries it as its
// payload. Before, the query's livemode was never part of any candidate string, so these
// signatures failed (signature_invalid) and a GET could not name its mode at all.
func TestVerifyRequestSignedQueryLivemode(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	for _, tt := range []struct {
		live, v1    string
		wantPayload string
	}{
		{"false", nodeLivemodeFalseV1, `{"livemode":false}`},
		{"true", nodeLivemodeTrueV1, `{"livemode":true}`},
	} {
		id, err := v.VerifyRequest("t=1700000000,v1="+tt.v1, nil, identityQuery("livemode", tt.live))
		require.NoError(t, err, "livemode=%s", tt.live)
		if id.SignedAs != SignedQuery || !id.SignedAs.CoversBody() || id.SignedAs.String() != "query" {
			require.FailNow(t, fmt.Sprintf("livemode=%s: SignedAs = %v", tt.live, id.SignedAs))
		}
		if string(id.Payload) != tt.wantPayload || id.UserID != testUser || id.AccountID != testAccount || id.Roles != nil {
			require.FailNow(t, fmt.Sprintf("livemode=%s: identity = %+v, payload %s", tt.live, id, id.Payload))
		}
	}
}

// TestSignAndQueryForAgreeWithNode: Sign over {"livemode":false} and QueryFor's query
// are exactly what the UI extension sends, so the CLI and test kits can build such a GET.
func TestSignAndQueryForAgreeWithNode(t *testing.T) {
	t.Parallel()
	s := newSigned(t, withPayload(`{"livemode":false}`))
	require.Equal(t, "t=1700000000,v1="+nodeLivemodeFalseV1, s.header, "Sign header = %s", s.header)
	q, err := QueryFor(testUser, testAccount, []byte(`{"livemode":false}`))
	require.NoError(t, err)
	got := q.Encode()
	require.Equal(t, "account_id="+testAccount+"&livemode=false&user_id="+testUser, got, "QueryFor = %s", got)
	id, err := newTestVerifier(t, testSecret).VerifyRequest(s.header, nil, q)
	require.NoError(t, err, "VerifyRequest = %+v", id)
	require.Equal(t, SignedQuery, id.SignedAs, "VerifyRequest = %+v, %v", id, err)
	for _, payload := range []string{"", " ", "{}"} {
		q, err := QueryFor(testUser, testAccount, []byte(payload))
		require.False(t, err != nil || q.Has("livemode") || q.Get("user_id") != testUser, "QueryFor(%q) = %v, %v", payload, q, err)
	}
	for _, payload := range []string{`{"livemode":"false"}`, `{"livemode":false,"note":"x"}`, `{"note":"x"}`, `[]`, `{`} {
		if _, err := QueryFor(testUser, testAccount, []byte(payload)); err == nil {
			require.FailNow(t, fmt.Sprintf("QueryFor(%s): no error", payload))
		} else if payload != `{` && !strings.Contains(err.Error(), "POST") {
			require.FailNow(t, fmt.Sprintf("QueryFor(%s): %v does not say what to do", payload, err))
		}
	}
}

// TestVerifyRequestUnsignedQueryLivemodeIsRefused: a ?livemode= the signature does not
// cover is never trusted: it fails verification with a message naming the fix, rather
// than being ignored (and the request served in a mode picked some other way).
func TestVerifyRequestUnsignedQueryLivemodeIsRefused(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	def := newSigned(t)
	liveFalse := "t=1700000000,v1=" + nodeLivemodeFalseV1
	tests := []struct {
		name   string
		header string
		query  url.Values
		want   error
	}{
		{"default signature, livemode in the query", def.header, identityQuery("livemode", "true"), ErrLivemodeNotSigned},
		{"signed false, query says true", liveFalse, identityQuery("livemode", "true"), ErrNoValidSignature},
		{"signed false, query has no livemode", liveFalse, identityQuery(), ErrNoValidSignature},
		{"livemode not a boolean", liveFalse, identityQuery("livemode", "False"), ErrBadLivemode},
		{"livemode empty", liveFalse, identityQuery("livemode", ""), ErrBadLivemode},
		{"livemode twice", liveFalse, identityQuery("livemode", "false", "livemode", "false"), ErrBadLivemode},
		{"another secret", newSigned(t, withSecrets(testSecretNew), withPayload(`{"livemode":true}`)).header, identityQuery("livemode", "true"), ErrNoValidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.VerifyRequest(tt.header, nil, tt.query)
			require.ErrorIs(t, err, tt.want, "err = %v, want %v", err, tt.want)
		})
	}
	got := SignatureFailure(ErrLivemodeNotSigned)
	require.Equal(t, FailureInvalid, got, "SignatureFailure(ErrLivemodeNotSigned) = %q", got)
}

// TestProtectQueryLivemodeErrors: over HTTP, an unsigned livemode is a 401
// signature_invalid that says how to sign it; a malformed one a 400 bad_request; a
// request with a body does not read the query at all (its mode belongs in the payload).
func TestProtectQueryLivemodeErrors(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, testSecret)
	var got *Identity
	h := v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	do := func(method, header, query, body string) *httptest.ResponseRecorder {
		got = nil
		req := httptest.NewRequest(method, "/api/policy?"+query, strings.NewReader(body))
		req.Header.Set(SignatureHeader, header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	ids := "user_id=" + testUser + "&account_id=" + testAccount

	rec := do(http.MethodGet, newSigned(t).header, ids+"&livemode=false", "")
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"code":"signature_invalid"`) ||
		!strings.Contains(rec.Body.String(), "fetchStripeSignature({livemode})") {
		require.FailNow(t, fmt.Sprintf("unsigned livemode: %d %s", rec.Code, rec.Body))
	}
	rec = do(http.MethodGet, "t=1700000000,v1="+nodeLivemodeFalseV1, ids+"&livemode=0", "")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "true or false") {
		require.FailNow(t, fmt.Sprintf("bad livemode: %d %s", rec.Code, rec.Body))
	}
	// Parameter order in the URL does not matter: the signed string's order is fixed.
	rec = do(http.MethodDelete, "t=1700000000,v1="+nodeLivemodeFalseV1, "livemode=false&"+ids, "")
	if rec.Code != http.StatusNoContent || got == nil || string(got.Payload) != `{"livemode":false}` {
		require.FailNow(t, fmt.Sprintf("signed livemode: %d %s %+v", rec.Code, rec.Body, got))
	}
	def := newSigned(t)
	rec = do(http.MethodPost, def.header, "livemode=true", string(def.body))
	if rec.Code != http.StatusNoContent || got == nil || got.SignedAs != SignedDefault || got.Payload != nil {
		require.FailNow(t, fmt.Sprintf("a body's query livemode: %d %s %+v", rec.Code, rec.Body, got))
	}
}
