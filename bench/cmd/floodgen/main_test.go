package main

import (
	"encoding/json"
	"io"
	"testing"
)

func TestForgedBodyIsTheIssuesBody(t *testing.T) {
	t.Parallel()
	body := forgedBody(1 << 20)
	var v struct {
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
		X         []int  `json:"x"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.UserID != "a" || v.AccountID != "b" {
		t.Fatalf("forged body does not parse to the claimed identity: %v", err)
	}
	if len(body) < 1<<20-2 || len(body) > 1<<20 {
		t.Errorf("forged body is %d bytes, want about %d", len(body), 1<<20)
	}
}

func TestParseFlagsRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-url", "http://10.0.0.1:3000/api/whoami", "-secrets", "absec_x", "-server-pid", "1"},
		{"-url", "http://localhost:3000/api/whoami", "-secrets", "absec_x", "-server-pid", "1"},
		{"-url", "http://127.0.0.1:3000/api/whoami", "-server-pid", "1"},
		{"-url", "http://127.0.0.1:3000/api/whoami", "-secrets", "absec_x", "-scenario", "other", "-server-pid", "1"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepts it", args)
		}
	}
	if _, err := parseFlags([]string{"-url", "http://127.0.0.1:3000/api/whoami", "-secrets", "absec_x", "-server-pid", "1"}, io.Discard); err != nil {
		t.Errorf("parseFlags refuses a loopback target: %v", err)
	}
}
