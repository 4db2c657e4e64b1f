package main

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestForgedBodyIsTheIssuesBody(t *testing.T) {
	t.Parallel()
	body := forgedBody(1 << 20)
	var v struct {
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
		X         []int  `json:"x"`
	}
	err := json.Unmarshal([]byte(body), &v)
	require.False(t, err != nil || v.UserID != "a" || v.AccountID != "b", "forged body does not parse to the claimed identity: %v", err)
	require.GreaterOrEqual(t, len(body), 1<<20-2, "forged body is %d bytes, want about %d", len(body), 1<<20)
	require.LessOrEqual(t, len(body), 1<<20, "forged body is %d bytes, want about %d", len(body), 1<<20)
}

func TestParseFlagsRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-url", "http://10.0.0.1:3000/api/whoami", "-secrets", "absec_x", "-server-pid", "1"},
		{"-url", "http://localhost:3000/api/whoami", "-secrets", "absec_x", "-server-pid", "1"},
		{"-url", "http://127.0.0.1:3000/api/whoami", "-server-pid", "1"},
		{"-url", "http://127.0.0.1:3000/api/whoami", "-secrets", "absec_x", "-scenario", "other", "-server-pid", "1"},
	} {
		_, err := parseFlags(args, io.Discard)
		require.Error(t, err, "parseFlags(%q) accepts it", args)
	}
	_, err := parseFlags([]string{"-url", "http://127.0.0.1:3000/api/whoami", "-secrets", "absec_x", "-server-pid", "1"}, io.Discard)
	require.NoError(t, err, "parseFlags refuses a loopback target")
}
