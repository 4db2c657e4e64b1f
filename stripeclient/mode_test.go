package stripeclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/stripeclient"
)

func TestResolveMode(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	installedIn := func(live, test bool) stripeclient.InstalledModesFunc {
		return func(context.Context, string) (bool, bool, error) { return live, test, nil }
	}
	both := stripeclient.Keys{Live: liveKey, Test: testKey}
	tests := []struct {
		name       string
		keys       stripeclient.Keys
		signed     *bool
		installed  stripeclient.InstalledModesFunc
		want       stripeclient.Mode
		wantIs     error
		wantStatus int
	}{
		{name: "signed livemode true", keys: both, signed: &yes, want: stripeclient.Live},
		{name: "signed livemode false", keys: both, signed: &no, want: stripeclient.Test},
		{name: "signed wins over the only key", keys: stripeclient.Keys{Test: testKey}, signed: &yes, want: stripeclient.Live},
		{name: "only a test key", keys: stripeclient.Keys{Test: testKey}, want: stripeclient.Test},
		{name: "only a live key", keys: stripeclient.Keys{Live: liveKey}, want: stripeclient.Live},
		{name: "installed in live only", keys: both, installed: installedIn(true, false), want: stripeclient.Live},
		{name: "installed in test only", keys: both, installed: installedIn(false, true), want: stripeclient.Test},
		{name: "installed in both", keys: both, installed: installedIn(true, true),
			wantIs: stripeclient.ErrModeRequired, wantStatus: http.StatusBadRequest},
		{name: "installed in neither", keys: both, installed: installedIn(false, false),
			wantIs: stripeclient.ErrModeRequired, wantStatus: http.StatusBadRequest},
		{name: "no installation source", keys: both,
			wantIs: stripeclient.ErrModeRequired, wantStatus: http.StatusBadRequest},
		{name: "no key at all", keys: stripeclient.Keys{},
			wantIs: stripeclient.ErrNoKey, wantStatus: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := stripeclient.New(stripeclient.Config{Keys: tt.keys})
			require.NoError(t, err)
			got, err := c.ResolveMode(t.Context(), "acct_1", tt.signed, tt.installed)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
				require.Equal(t, tt.wantStatus, apierror.StatusOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestModeRequiredTellsTheAppWhatToSign(t *testing.T) {
	t.Parallel()
	c, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Live: liveKey, Test: testKey}})
	require.NoError(t, err)
	_, err = c.ResolveMode(t.Context(), "acct_1", nil, nil)
	var ae *apierror.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, apierror.CodeModeRequired, ae.Code)
	require.Contains(t, ae.Message, "livemode")
	require.False(t, stripeclient.IsRetryable(err))
}

func TestResolveModeStoreError(t *testing.T) {
	t.Parallel()
	c, err := stripeclient.New(stripeclient.Config{Keys: stripeclient.Keys{Live: liveKey, Test: testKey}})
	require.NoError(t, err)
	storeDown := errors.New("database is locked")
	_, err = c.ResolveMode(t.Context(), "acct_1", nil, func(context.Context, string) (bool, bool, error) {
		return false, false, storeDown
	})
	require.ErrorIs(t, err, storeDown)
	require.Equal(t, http.StatusInternalServerError, apierror.StatusOf(err), "an internal error, logged by the façade")
}

func TestSignedLivemode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    *bool
		wantErr bool
	}{
		{name: "no payload", payload: ""},
		{name: "null", payload: "null"},
		{name: "no livemode", payload: `{"livemode_hint":true,"x":1}`},
		{name: "true", payload: `{"a":1,"livemode":true}`, want: ptr(true)},
		{name: "false", payload: `{"livemode":false}`, want: ptr(false)},
		{name: "nested is not it", payload: `{"o":{"livemode":true}}`},
		{name: "case matters", payload: `{"LiveMode":true}`},
		{name: "a string", payload: `{"livemode":"true"}`, wantErr: true},
		{name: "null value", payload: `{"livemode":null}`, wantErr: true},
		{name: "not an object", payload: `[true]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := stripeclient.SignedLivemode(json.RawMessage(tt.payload))
			if tt.wantErr {
				require.Error(t, err)
				require.Equal(t, http.StatusBadRequest, apierror.StatusOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func ptr[T any](v T) *T { return &v }
