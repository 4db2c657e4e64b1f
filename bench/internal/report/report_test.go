package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseGoBench(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		want    []GoBenchmark
		wantErr string
	}{
		{
			name: "median of runs, GOMAXPROCS suffix removed, other lines skipped",
			input: `goos: linux
BenchmarkVerifyDefaultSignature/appauth.VerifyPayload-2   	 1000	      1200 ns/op	       0 B/op	       0 allocs/op
BenchmarkVerifyDefaultSignature/appauth.VerifyPayload-2   	 1000	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkVerifyDefaultSignature/appauth.VerifyPayload-2   	 1000	      1100 ns/op	       0 B/op	       0 allocs/op
BenchmarkVerifyDefaultSignature/stripe-go.ValidatePayloadWithTolerance-2 	 500	 4000 ns/op	 1600 B/op	 34 allocs/op
BenchmarkVerifyDefaultSignature/stripe-go.ValidatePayloadWithTolerance-2 	 500	 5000 ns/op	 1700 B/op	 34 allocs/op
PASS
ok  	github.com/appbackend/appbackend/bench	3.1s
`,
			want: []GoBenchmark{
				{Group: "BenchmarkVerifyDefaultSignature", Name: "appauth.VerifyPayload", Runs: 3, NsPerOp: 1100, BytesPerOp: 0, AllocsPerOp: 0},
				{Group: "BenchmarkVerifyDefaultSignature", Name: "stripe-go.ValidatePayloadWithTolerance", Runs: 2, NsPerOp: 4500, BytesPerOp: 1650, AllocsPerOp: 34},
			},
		},
		{
			name:  "top-level benchmark without sub-benchmarks and without GOMAXPROCS suffix",
			input: "BenchmarkSign 	 200	 300.5 ns/op	 64 B/op	 1 allocs/op\n",
			want:  []GoBenchmark{{Group: "BenchmarkSign", Runs: 1, NsPerOp: 300.5, BytesPerOp: 64, AllocsPerOp: 1}},
		},
		{
			name:  "failure lines are not results",
			input: "BenchmarkX-2 --- FAIL: BenchmarkX-2\n    verify_test.go:1: the benchmark input must verify\n",
			want:  []GoBenchmark{},
		},
		{
			name:    "without -benchmem",
			input:   "BenchmarkVerifyDefaultSignature/appauth.VerifyPayload-2 	 1000	 1200 ns/op\n",
			wantErr: "run with -benchmem",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseGoBench(strings.NewReader(tt.input))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr, "err = %v, want one containing %q", err, tt.wantErr)
				return
			}
			require.NoError(t, err, "ParseGoBench")
			require.Len(t, got, len(tt.want), "got %d benchmarks %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			for i := range got {
				if got[i] != tt.want[i] {
					require.FailNow(t, fmt.Sprintf("benchmark %d = %+v, want %+v", i, got[i], tt.want[i]))
				}
			}
		})
	}
}

func TestWriteMarkdownVerdicts(t *testing.T) {
	t.Parallel()
	load := func(rps, p99 float64, errors int) LoadResult {
		return LoadResult{
			Connections: 64, WarmupSeconds: 2, DurationSeconds: 10, SignatureCount: 1,
			OK: int(rps * 10), Errors: errors, RequestsPerSecond: rps, P50Millis: p99 / 4, P99Millis: p99, MaxMillis: p99 * 2,
			LoadgenCPUSeconds: 3, MachineCPUSeconds: 9.5, StealCPUSeconds: 0.5, CPUs: 2,
			Server: &ServerStats{PID: 1, PeakRSSKiB: 20480, RSSKiB: 10240, CPUSeconds: 5},
		}
	}
	goBench := func(oursNs, oursAllocs float64) []GoBenchmark {
		return []GoBenchmark{
			{Group: BarBenchmark, Name: "appauth.VerifyPayload", Runs: 5, NsPerOp: oursNs, AllocsPerOp: oursAllocs},
			{Group: BarBenchmark, Name: "stripe-go.ValidatePayloadWithTolerance", Runs: 5, NsPerOp: 4000, BytesPerOp: 1600, AllocsPerOp: 34},
		}
	}
	tests := []struct {
		name        string
		report      Report
		wantLines   []string
		unwantLines []string
	}{
		{
			name:   "every bar met",
			report: Report{Go: goBench(1000, 0), Ours: []LoadResult{load(30000, 4, 0)}, Peer: []LoadResult{load(3000, 40, 0)}, OursLabel: "appbackend", PeerLabel: "Express"},
			wantLines: []string{
				"`appauth.VerifyPayload`: ✅ 4.00× faster than stripe-go (bar ≥ 2×); ✅ 0 allocs/op (bar 0)",
				"✅ requests/s: 10.00× Express's (bar ≥ 5×)",
				"✅ p99: 4.00 ms vs Express's 40.00 ms (bar: lower)",
				"| ratio appbackend ÷ Express | 10.00× | 0.10× | 0.10× | 0.10× | | 1.00× | 1.00× | 1.00× | 10.00× |",
				"| `stripe-go.ValidatePayloadWithTolerance` | 4000 | 1600 | 34 | 1× (baseline) |",
			},
			unwantLines: []string{"❌"},
		},
		{
			name:   "too slow, allocating, under the throughput ratio, higher p99, errors",
			report: Report{Go: goBench(2500, 1), Ours: []LoadResult{load(10000, 50, 0)}, Peer: []LoadResult{load(3000, 40, 0)}, OursLabel: "appbackend", PeerLabel: "Express"},
			wantLines: []string{
				"`appauth.VerifyPayload`: ❌ 1.60× faster than stripe-go (bar ≥ 2×); ❌ 1 allocs/op (bar 0)",
				"❌ requests/s: 3.33× Express's (bar ≥ 5×)",
				"❌ p99: 50.00 ms vs Express's 40.00 ms (bar: lower)",
			},
		},
		{
			name:   "errors in the window are a failure even when the ratios pass",
			report: Report{Ours: []LoadResult{load(30000, 4, 0)}, Peer: []LoadResult{load(3000, 40, 7)}, OursLabel: "appbackend", PeerLabel: "Express"},
			wantLines: []string{
				"❌ errors in the measured windows: appbackend 0, Express 7 (only 200s count as requests)",
			},
		},
		{
			name: "several rounds: the median round in the table, every round listed, errors of every round count",
			report: Report{
				Ours:      []LoadResult{load(30000, 4, 0), load(10000, 9, 0), load(20000, 5, 0)},
				Peer:      []LoadResult{load(3000, 40, 2), load(3500, 30, 0), load(2000, 60, 0)},
				OursLabel: "appbackend", PeerLabel: "Express",
			},
			wantLines: []string{
				"| appbackend | 20000 | 1.25 | 5.00 | 10.00 | 0 | 20.0 | 10.0 | 5.00 | 40000 |",
				"| Express | 3000 | 10.00 | 40.00 | 80.00 | 2 | 20.0 | 10.0 | 5.00 | 6000 |",
				"Requests/s in each round, in order (the servers take turns; the table shows each one's median round; ⚠️ marks a disturbed window): appbackend 30000, 10000, 20000; Express 3000, 3500, 2000.",
				"✅ requests/s: 6.67× Express's (bar ≥ 5×)",
				"❌ errors in the measured windows: appbackend 0, Express 2 (only 200s count as requests)",
			},
		},
		{
			name: "a window where other processes took CPU time is flagged",
			report: Report{
				Ours: []LoadResult{{
					DurationSeconds: 10, CPUs: 2, OK: 1, RequestsPerSecond: 0.1, LoadgenCPUSeconds: 3, MachineCPUSeconds: 17, StealCPUSeconds: 1,
					Server: &ServerStats{CPUSeconds: 8},
				}},
				OursLabel: "appbackend",
			},
			wantLines: []string{
				"appbackend window: server 8.0, load generator 3.0, other processes 6.0, stolen by the hypervisor 1.0, of 20 CPU-s (2 CPUs × 10 s) ⚠️ disturbed: 35% of the CPU time went elsewhere",
			},
		},
		{
			name:   "one server only: its row, no ratio and no verdict",
			report: Report{Peer: []LoadResult{load(3000, 40, 0)}, PeerLabel: "Express"},
			wantLines: []string{
				"| Express | 3000 | 10.00 | 40.00 | 80.00 | 0 | 20.0 | 10.0 | 5.00 | 6000 |",
				"Express window: server 5.0, load generator 3.0, other processes 1.5, stolen by the hypervisor 0.5, of 20 CPU-s (2 CPUs × 10 s)",
			},
			unwantLines: []string{"ratio", "### Bars"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			require.NoError(t, tt.report.WriteMarkdown(&b), "WriteMarkdown")
			got := b.String()
			lines := strings.Split(got, "\n")
			for _, want := range tt.wantLines {
				found := false
				for _, line := range lines {
					if strings.TrimPrefix(line, "- ") == want {
						found = true
					}
				}
				require.True(t, found, "missing line %q in:\n%s", want, got)
			}
			for _, unwanted := range tt.unwantLines {
				require.NotContains(t, got, unwanted, "output contains %q:\n%s", unwanted, got)
			}
		})
	}
}

func TestMedianRound(t *testing.T) {
	t.Parallel()
	rounds := func(rps ...float64) []LoadResult {
		out := make([]LoadResult, len(rps))
		for i, v := range rps {
			out[i] = LoadResult{Name: fmt.Sprint("round ", i+1), RequestsPerSecond: v}
		}
		return out
	}
	tests := []struct {
		name   string
		rounds []LoadResult
		want   string // the chosen round's name, "" for nil
	}{
		{"none", nil, ""},
		{"one", rounds(5), "round 1"},
		{"odd count: the middle one", rounds(9, 3, 5), "round 3"},
		{"even count: the lower middle one", rounds(9, 3, 5, 7), "round 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := MedianRound(tt.rounds)
			gotName := ""
			if got != nil {
				gotName = got.Name
			}
			require.Equal(t, tt.want, gotName, "MedianRound = %q, want %q", gotName, tt.want)
		})
	}
}
