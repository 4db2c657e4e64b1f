package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	goBench := write("go.txt", `BenchmarkVerifyDefaultSignature/appauth.VerifyPayload-2 	 1000	 1000 ns/op	 0 B/op	 0 allocs/op
BenchmarkVerifyDefaultSignature/stripe-go.ValidatePayloadWithTolerance-2 	 1000	 4000 ns/op	 1616 B/op	 34 allocs/op
`)
	ours := write("ours.json", `{"name":"appbackend","connections":64,"duration_seconds":10,"ok":300000,"requests_per_second":30000,"p50_ms":1,"p99_ms":4,"max_ms":9}`)
	peer := write("peer.json", `{"name":"express","connections":64,"duration_seconds":10,"ok":30000,"requests_per_second":3000,"p50_ms":20,"p99_ms":40,"max_ms":90}`)
	slowerPeer := write("peer2.json", `{"name":"express","connections":64,"duration_seconds":10,"ok":20000,"requests_per_second":2000,"p50_ms":30,"p99_ms":50,"max_ms":95}`)
	notJSON := write("broken.json", "requests/s 3000\n")
	noResults := write("empty.txt", "PASS\n")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
	}{
		{
			name:     "every input",
			args:     []string{"-gobench", goBench, "-ours", ours, "-peer", peer, "-peer", slowerPeer, "-peer-label", "Express 5", "-note", "2 CPUs", "-note", "make bench"},
			wantCode: 0,
			wantStdout: []string{
				"| `appauth.VerifyPayload` | 1000 | 0 | 0 | 4.00× faster |",
				"| appbackend | 30000 | 1.00 | 4.00 | 9.00 | 0 | — | — | — | — |",
				"| Express 5 | 2000 | 30.00 | 50.00 | 95.00 | 0 | — | — | — | — |",
				"appbackend 30000; Express 5 3000, 2000.",
				"✅ requests/s: 15.00× Express's (bar ≥ 5×)",
				"- 2 CPUs\n- make bench\n",
			},
		},
		{name: "load result that is not JSON", args: []string{"-peer", notJSON}, wantCode: 1, wantStderr: "not a loadgen -json result"},
		{name: "missing file", args: []string{"-ours", filepath.Join(dir, "missing.json")}, wantCode: 1, wantStderr: "missing.json"},
		{name: "go test output without results", args: []string{"-gobench", noResults}, wantCode: 1, wantStderr: "no benchmark results"},
		{name: "stray argument", args: []string{"extra"}, wantCode: 2, wantStderr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr strings.Builder
			if got := run(tt.args, &stdout, &stderr); got != tt.wantCode {
				require.FailNow(t, fmt.Sprintf("exit %d, want %d (stderr %q)", got, tt.wantCode, stderr.String()))
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					require.FailNow(t, fmt.Sprintf("stdout lacks %q:\n%s", want, stdout.String()))
				}
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				require.FailNow(t, fmt.Sprintf("stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr))
			}
		})
	}
}
