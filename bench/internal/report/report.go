package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The bars of issue 2.
const (
	// VerifySpeedupBar: appauth verifies a default signature with two secrets at least
	// this many times faster than stripe-go, with zero allocations.
	VerifySpeedupBar = 2.0
	// ThroughputRatioBar: appbackend answers at least this many times Express's requests
	// per second, with a lower p99 latency.
	ThroughputRatioBar = 5.0
)

// DisturbedShare is the share of a measured window's CPU time that other processes and
// the hypervisor may take before the report flags the window as disturbed.
const DisturbedShare = 0.10

// BarBenchmark is the Go benchmark group that the verification bar applies to; other
// groups are reported for information.
const BarBenchmark = "BenchmarkVerifyDefaultSignature"

// LoadResult is what cmd/loadgen reports for one server, in its JSON form.
type LoadResult struct {
	Name            string  `json:"name"`
	URL             string  `json:"url"`
	Connections     int     `json:"connections"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	// SignatureCount is the number of v1 signatures in the request's header.
	SignatureCount int `json:"signature_count"`
	// OK counts the 200 answers to requests that started and ended in the measured window.
	OK int `json:"ok"`
	// Errors counts everything else in the window: other statuses, network errors, timeouts.
	Errors            int               `json:"errors"`
	ErrorKinds        map[string]int    `json:"error_kinds,omitempty"`
	ErrorExamples     map[string]string `json:"error_examples,omitempty"`
	RequestsPerSecond float64           `json:"requests_per_second"`
	P50Millis         float64           `json:"p50_ms"`
	P99Millis         float64           `json:"p99_ms"`
	MaxMillis         float64           `json:"max_ms"`
	// LoadgenCPUSeconds is the load generator's own CPU time in the window: on a small
	// machine it competes with the server for the same cores.
	LoadgenCPUSeconds float64 `json:"loadgen_cpu_seconds"`
	// MachineCPUSeconds is the busy time of every CPU of the machine in the window:
	// what is left after the server's and the load generator's share was used by other
	// processes, and tells whether the measurement was disturbed.
	MachineCPUSeconds float64 `json:"machine_cpu_seconds"`
	// StealCPUSeconds is the time, summed over the CPUs, that the hypervisor ran something
	// else while this virtual machine's CPUs wanted to run: also a disturbance.
	StealCPUSeconds float64 `json:"steal_cpu_seconds"`
	// CPUs is the number of CPUs the machine has.
	CPUs   int          `json:"cpus"`
	Server *ServerStats `json:"server,omitempty"`
}

func (r *LoadResult) availableCPUSeconds() float64 { return float64(r.CPUs) * r.DurationSeconds }

// disturbed reports whether other processes and the hypervisor took more than
// DisturbedShare of the window's CPU time.
func (r *LoadResult) disturbed() bool {
	available := r.availableCPUSeconds()
	return available > 0 && r.OtherCPUSeconds()+r.StealCPUSeconds > DisturbedShare*available
}

// OtherCPUSeconds is the CPU time that neither the server nor the load generator used in
// the window: other processes on the same machine. Zero when it could not be measured.
func (r *LoadResult) OtherCPUSeconds() float64 {
	if r.MachineCPUSeconds <= 0 || r.Server == nil {
		return 0
	}
	return max(r.MachineCPUSeconds-r.Server.CPUSeconds-r.LoadgenCPUSeconds, 0)
}

// ServerStats is the server process as /proc showed it after the measured window.
type ServerStats struct {
	PID int `json:"pid"`
	// PeakRSSKiB is VmHWM: the most resident memory since the process started.
	PeakRSSKiB int64 `json:"peak_rss_kib"`
	// RSSKiB is VmRSS right after the measured window.
	RSSKiB int64 `json:"rss_kib"`
	// CPUSeconds is the user+system CPU time the server used in the measured window.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Error says why the figures could not be read (the server exited, no /proc).
	Error string `json:"error,omitempty"`
}

// GoBenchmark is one benchmark of `go test -bench -benchmem` output, summarised over
// its runs (-count) by the median of each figure.
type GoBenchmark struct {
	// Group is the top-level benchmark, Name the sub-benchmark (empty if none).
	Group, Name string
	Runs        int
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
}

// ParseGoBench reads `go test -bench -benchmem` output and returns the benchmarks in the
// order they first appear. Lines that are not benchmark results are skipped. A benchmark
// without B/op and allocs/op (no -benchmem) is an error: the bar needs allocations.
func ParseGoBench(r io.Reader) ([]GoBenchmark, error) {
	type samples struct{ ns, bytes, allocs []float64 }
	var order []string
	byName := map[string]*samples{}
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // e.g. "BenchmarkX --- FAIL" or a log line
		}
		name := trimProcs(fields[0])
		figures := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q is not a number", name, fields[i])
			}
			figures[fields[i+1]] = v
		}
		ns, okNs := figures["ns/op"]
		bytes, okBytes := figures["B/op"]
		allocs, okAllocs := figures["allocs/op"]
		if !okNs || !okBytes || !okAllocs {
			return nil, fmt.Errorf("benchmark %s: ns/op, B/op and allocs/op are required (run with -benchmem)", name)
		}
		s, seen := byName[name]
		if !seen {
			s = &samples{}
			byName[name] = s
			order = append(order, name)
		}
		s.ns = append(s.ns, ns)
		s.bytes = append(s.bytes, bytes)
		s.allocs = append(s.allocs, allocs)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	out := make([]GoBenchmark, 0, len(order))
	for _, name := range order {
		s := byName[name]
		group, sub, _ := strings.Cut(name, "/")
		out = append(out, GoBenchmark{
			Group:       group,
			Name:        sub,
			Runs:        len(s.ns),
			NsPerOp:     median(s.ns),
			BytesPerOp:  median(s.bytes),
			AllocsPerOp: median(s.allocs),
		})
	}
	return out, nil
}

// trimProcs removes the -GOMAXPROCS suffix go test appends to a benchmark name.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

func median(values []float64) float64 {
	sorted := slices.Sorted(slices.Values(values))
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Report is everything one benchmark run measured.
type Report struct {
	// Go holds the microbenchmarks; in each group the sub-benchmark named with the prefix
	// "stripe-go" is the baseline the others are compared with.
	Go []GoBenchmark
	// Ours and Peer are the load test results of appbackend and of Express, one per round
	// (the servers take turns); either is empty when that server was not measured. The
	// table shows each server's median round by requests per second.
	Ours, Peer []LoadResult
	// OursLabel and PeerLabel name the servers in the table.
	OursLabel, PeerLabel string
	// Notes are printed as a list under the tables: machine, load, how to reproduce.
	Notes []string
}

// WriteMarkdown renders the report: a table per measurement with absolute figures and
// ratios, then the verdict on each bar of issue 2, then the notes.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	var verdicts []string
	if len(r.Go) > 0 {
		verdicts = append(verdicts, r.writeGo(&b)...)
	}
	if len(r.Ours) > 0 || len(r.Peer) > 0 {
		verdicts = append(verdicts, r.writeLoad(&b)...)
	}
	if len(verdicts) > 0 {
		b.WriteString("### Bars (issue 2)\n\n")
		for _, v := range verdicts {
			b.WriteString("- " + v + "\n")
		}
		b.WriteString("\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("### Notes\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r Report) writeGo(b *strings.Builder) (verdicts []string) {
	var groups []string
	for _, g := range r.Go {
		if !slices.Contains(groups, g.Group) {
			groups = append(groups, g.Group)
		}
	}
	for _, group := range groups {
		var rows []GoBenchmark
		var baseline *GoBenchmark
		for _, g := range r.Go {
			if g.Group != group {
				continue
			}
			rows = append(rows, g)
			if strings.HasPrefix(g.Name, "stripe-go") && baseline == nil {
				baseline = &g
			}
		}
		fmt.Fprintf(b, "### %s\n\n", group)
		b.WriteString("| verifier | ns/op | B/op | allocs/op | speed vs stripe-go |\n")
		b.WriteString("|---|---:|---:|---:|---:|\n")
		for _, row := range rows {
			speed := "—"
			switch {
			case baseline == nil:
			case row.Name == baseline.Name:
				speed = "1× (baseline)"
			case row.NsPerOp > 0:
				speed = fmt.Sprintf("%.2f× faster", baseline.NsPerOp/row.NsPerOp)
			}
			fmt.Fprintf(b, "| `%s` | %.0f | %.0f | %.0f | %s |\n", row.Name, row.NsPerOp, row.BytesPerOp, row.AllocsPerOp, speed)
		}
		runs := 0
		if len(rows) > 0 {
			runs = rows[0].Runs
		}
		fmt.Fprintf(b, "\nMedian of %d run(s) per row.\n\n", runs)

		if group != BarBenchmark {
			continue
		}
		if baseline == nil {
			verdicts = append(verdicts, "❌ verification: no stripe-go baseline in the benchmark output")
			continue
		}
		for _, row := range rows {
			if !strings.HasPrefix(row.Name, "appauth") || row.NsPerOp <= 0 {
				continue
			}
			speedup := baseline.NsPerOp / row.NsPerOp
			verdicts = append(verdicts, fmt.Sprintf("`%s`: %s %.2f× faster than stripe-go (bar ≥ %.0f×); %s %.0f allocs/op (bar 0)",
				row.Name, mark(speedup >= VerifySpeedupBar), speedup, VerifySpeedupBar, mark(row.AllocsPerOp == 0), row.AllocsPerOp))
		}
	}
	return verdicts
}

func (r Report) writeLoad(b *strings.Builder) (verdicts []string) {
	b.WriteString("### Loopback load test: `POST /api/whoami`\n\n")
	ours, peer := MedianRound(r.Ours), MedianRound(r.Peer)
	if first := firstNonNil(ours, peer); first != nil {
		fmt.Fprintf(b, "%d keep-alive connections, %.0f s measured after %.0f s warm-up, one request signed with %d v1 signature(s), 2 secrets configured on each server.\n\n",
			first.Connections, first.DurationSeconds, first.WarmupSeconds, first.SignatureCount)
	}
	b.WriteString("| server | requests/s | p50 ms | p99 ms | max ms | errors | peak RSS MiB | RSS after MiB | server CPU s | requests per server CPU-s |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rows := []labeledResult{{r.OursLabel, ours}, {r.PeerLabel, peer}}
	for _, row := range rows {
		if row.result == nil {
			continue
		}
		res := row.result
		peak, rss, cpu, perCPU := "—", "—", "—", "—"
		if s := res.Server; s != nil && s.Error == "" {
			peak = fmt.Sprintf("%.1f", mib(s.PeakRSSKiB))
			rss = fmt.Sprintf("%.1f", mib(s.RSSKiB))
			cpu = fmt.Sprintf("%.2f", s.CPUSeconds)
			if s.CPUSeconds > 0 {
				perCPU = fmt.Sprintf("%.0f", float64(res.OK)/s.CPUSeconds)
			}
		}
		fmt.Fprintf(b, "| %s | %.0f | %.2f | %.2f | %.2f | %d | %s | %s | %s | %s |\n",
			row.label, res.RequestsPerSecond, res.P50Millis, res.P99Millis, res.MaxMillis, res.Errors, peak, rss, cpu, perCPU)
	}
	if ours == nil || peer == nil {
		b.WriteString("\n")
		r.writeRounds(b)
		writeCPUShares(b, rows)
		return nil
	}
	ratio := func(a, b float64) string {
		if b <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	memRatio := func(get func(*ServerStats) int64) string {
		if ours.Server == nil || peer.Server == nil || ours.Server.Error != "" || peer.Server.Error != "" {
			return "—"
		}
		return ratio(float64(get(ours.Server)), float64(get(peer.Server)))
	}
	perCPURatio := "—"
	if ours.Server != nil && peer.Server != nil && ours.Server.CPUSeconds > 0 && peer.Server.CPUSeconds > 0 && peer.OK > 0 {
		perCPURatio = ratio(float64(ours.OK)/ours.Server.CPUSeconds, float64(peer.OK)/peer.Server.CPUSeconds)
	}
	cpuRatio := "—"
	if ours.Server != nil && peer.Server != nil {
		cpuRatio = ratio(ours.Server.CPUSeconds, peer.Server.CPUSeconds)
	}
	fmt.Fprintf(b, "| ratio %s ÷ %s | %s | %s | %s | %s | | %s | %s | %s | %s |\n\n",
		r.OursLabel, r.PeerLabel,
		ratio(ours.RequestsPerSecond, peer.RequestsPerSecond),
		ratio(ours.P50Millis, peer.P50Millis),
		ratio(ours.P99Millis, peer.P99Millis),
		ratio(ours.MaxMillis, peer.MaxMillis),
		memRatio(func(s *ServerStats) int64 { return s.PeakRSSKiB }),
		memRatio(func(s *ServerStats) int64 { return s.RSSKiB }),
		cpuRatio, perCPURatio)
	r.writeRounds(b)
	writeCPUShares(b, rows)

	if peer.RequestsPerSecond > 0 {
		x := ours.RequestsPerSecond / peer.RequestsPerSecond
		verdicts = append(verdicts, fmt.Sprintf("%s requests/s: %.2f× Express's (bar ≥ %.0f×)", mark(x >= ThroughputRatioBar), x, ThroughputRatioBar))
	} else {
		verdicts = append(verdicts, "❌ requests/s: Express answered no request, no ratio")
	}
	verdicts = append(verdicts, fmt.Sprintf("%s p99: %.2f ms vs Express's %.2f ms (bar: lower)", mark(ours.P99Millis < peer.P99Millis && ours.OK > 0), ours.P99Millis, peer.P99Millis))
	if oursErrors, peerErrors := totalErrors(r.Ours), totalErrors(r.Peer); oursErrors > 0 || peerErrors > 0 {
		verdicts = append(verdicts, fmt.Sprintf("❌ errors in the measured windows: %s %d, %s %d (only 200s count as requests)", r.OursLabel, oursErrors, r.PeerLabel, peerErrors))
	}
	return verdicts
}

// MedianRound returns the round with the median requests per second (the lower of the
// two middle ones for an even count), or nil when there is none. One whole round is
// shown rather than a median of each figure, so that a row's figures belong together.
func MedianRound(rounds []LoadResult) *LoadResult {
	if len(rounds) == 0 {
		return nil
	}
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b LoadResult) int {
		return cmp.Compare(a.RequestsPerSecond, b.RequestsPerSecond)
	})
	return &sorted[(len(sorted)-1)/2]
}

func totalErrors(rounds []LoadResult) int {
	n := 0
	for _, r := range rounds {
		n += r.Errors
	}
	return n
}

// writeRounds lists every round's requests per second when there was more than one, so
// that the spread, and the rounds other processes disturbed, are visible.
func (r Report) writeRounds(b *strings.Builder) {
	if len(r.Ours) < 2 && len(r.Peer) < 2 {
		return
	}
	var parts []string
	for _, server := range []struct {
		label  string
		rounds []LoadResult
	}{{r.OursLabel, r.Ours}, {r.PeerLabel, r.Peer}} {
		if len(server.rounds) == 0 {
			continue
		}
		var figures []string
		for _, round := range server.rounds {
			figure := fmt.Sprintf("%.0f", round.RequestsPerSecond)
			if round.disturbed() {
				figure += " ⚠️"
			}
			figures = append(figures, figure)
		}
		parts = append(parts, server.label+" "+strings.Join(figures, ", "))
	}
	fmt.Fprintf(b, "Requests/s in each round, in order (the servers take turns; the table shows each one's median round; ⚠️ marks a disturbed window): %s.\n\n", strings.Join(parts, "; "))
}

// labeledResult is a load test result with the server's name in the table.
type labeledResult struct {
	label  string
	result *LoadResult
}

// writeCPUShares says who used the machine's CPUs in each measured window: on a small
// machine the load generator competes with the server, and other processes may too.
func writeCPUShares(b *strings.Builder, rows []labeledResult) {
	var lines []string
	for _, row := range rows {
		label, res := row.label, row.result
		if res == nil || res.Server == nil || res.MachineCPUSeconds <= 0 || res.CPUs <= 0 {
			continue
		}
		available := res.availableCPUSeconds()
		line := fmt.Sprintf("%s window: server %.1f, load generator %.1f, other processes %.1f, stolen by the hypervisor %.1f, of %.0f CPU-s (%d CPUs × %.0f s)",
			label, res.Server.CPUSeconds, res.LoadgenCPUSeconds, res.OtherCPUSeconds(), res.StealCPUSeconds, available, res.CPUs, res.DurationSeconds)
		if res.disturbed() {
			line += fmt.Sprintf(" ⚠️ disturbed: %.0f%% of the CPU time went elsewhere", 100*(res.OtherCPUSeconds()+res.StealCPUSeconds)/available)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("CPU time used in the measured window of each row above:\n\n")
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n")
}

func firstNonNil(results ...*LoadResult) *LoadResult {
	for _, r := range results {
		if r != nil {
			return r
		}
	}
	return nil
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}
