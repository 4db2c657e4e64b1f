// Command benchreport prints the Markdown table of one benchmark run (bench/run.sh): the
// Go verification microbenchmarks from `go test -bench -benchmem` output and the loopback
// load test from cmd/loadgen's JSON results, with absolute figures, ratios and a verdict
// on each bar of issue 2.
//
//	benchreport -gobench go-bench.txt -ours appbackend.json -peer express.json \
//	            -ours-label appbackend -peer-label "Express 5.1.0 + stripe-node 23.1.0" \
//	            -note "2 CPUs, shared with the load generator"
//
// Every input is optional; what is missing is left out of the table.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/appbackend/appbackend/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// notes collects repeated -note flags.
type notes []string

func (n *notes) String() string     { return fmt.Sprint(*n) }
func (n *notes) Set(v string) error { *n = append(*n, v); return nil }

// run is the whole program; it returns the exit status: 0 success, 1 failure, 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		goBenchFile, oursFile, peerFile string
		report                          bench.Report
		extra                           notes
	)
	fs.StringVar(&goBenchFile, "gobench", "", "file with `go test -bench -benchmem` output")
	fs.StringVar(&oursFile, "ours", "", "loadgen -json result of appbackend")
	fs.StringVar(&peerFile, "peer", "", "loadgen -json result of the Express peer")
	fs.StringVar(&report.OursLabel, "ours-label", "appbackend", "name of appbackend in the table")
	fs.StringVar(&report.PeerLabel, "peer-label", "Express + stripe-node", "name of the peer in the table")
	fs.Var(&extra, "note", "a note printed under the tables (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "benchreport: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	report.Notes = extra

	if goBenchFile != "" {
		f, err := os.Open(goBenchFile)
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
		report.Go, err = bench.ParseGoBench(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %s: %v\n", goBenchFile, err)
			return 1
		}
		if len(report.Go) == 0 {
			fmt.Fprintf(stderr, "benchreport: %s: no benchmark results\n", goBenchFile)
			return 1
		}
	}
	for _, in := range []struct {
		file string
		dst  **bench.LoadResult
	}{{oursFile, &report.Ours}, {peerFile, &report.Peer}} {
		if in.file == "" {
			continue
		}
		result, err := readLoadResult(in.file)
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
		*in.dst = result
	}

	if err := report.WriteMarkdown(stdout); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	return 0
}

func readLoadResult(file string) (*bench.LoadResult, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var result bench.LoadResult
	if err := json.Unmarshal(data, &result); err != nil {
		return nil, fmt.Errorf("%s: not a loadgen -json result: %v", file, err)
	}
	return &result, nil
}
