package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Standard Webhooks libraries' own test vector.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	t.Parallel()
	s, err := ParseSecret(vectorSecret)
	require.NoError(t, err)
	require.Equal(t, vectorSignature, s.Sign(vectorID, vectorTimestamp, []byte(vectorPayload)))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	s, err := ParseSecret(vectorSecret)
	require.NoError(t, err)
	now := time.Unix(vectorTimestamp, 0)
	h := http.Header{}
	s.SetHeaders(h, vectorID, now, []byte(vectorPayload))
	require.Equal(t, vectorSignature, h.Get(HeaderSignature))
	tests := []struct {
		name    string
		mutate  func(h http.Header) ([]byte, time.Time)
		wantErr error
	}{
		{"valid", func(h http.Header) ([]byte, time.Time) { return []byte(vectorPayload), now }, nil},
		{"several signatures", func(h http.Header) ([]byte, time.Time) {
			h.Set(HeaderSignature, "v1,bm90IGl0 "+vectorSignature)
			return []byte(vectorPayload), now
		}, nil},
		{"other body", func(h http.Header) ([]byte, time.Time) { return []byte(`{"test": 1}`), now }, ErrNoValidSignature},
		{"too old", func(h http.Header) ([]byte, time.Time) { return []byte(vectorPayload), now.Add(10 * time.Minute) }, ErrTooOld},
		{"unsigned", func(h http.Header) ([]byte, time.Time) { h.Del(HeaderSignature); return []byte(vectorPayload), now }, ErrNotSigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.Clone()
			body, at := tt.mutate(h)
			err := s.Verify(h, body, at, 5*time.Minute)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_c2hvcnQ=", "whsec_!!!"} {
		_, err := ParseSecret(bad)
		require.ErrorIs(t, err, ErrSecretFormat, bad)
	}
	s, err := ParseSecret(NewSecret())
	require.NoError(t, err)
	require.Len(t, s.key, 32)
}

func TestParseCall(t *testing.T) {
	t.Parallel()
	m, p, err := ParseCall("POST /jobs/refresh")
	require.NoError(t, err)
	require.Equal(t, "POST", m)
	require.Equal(t, "/jobs/refresh", p)
	for _, bad := range []string{"", "POST", "post /x", "POST x", "POST /a b"} {
		_, _, err := ParseCall(bad)
		require.Error(t, err, bad)
	}
}

func TestProofPayload(t *testing.T) {
	t.Parallel()
	p := Proof{UserID: "usr_1", AccountID: "acct_1", Roles: "admin", PayloadSigned: "true", Livemode: "false"}
	got := string(p.Payload("POST", "/api/x?a=1", []byte("{}")))
	want := "POST\n/api/x?a=1\nusr_1\nacct_1\nadmin\ntrue\nfalse\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	require.Equal(t, want, got)
}
