// Command benchreport prints the Markdown table of one benchmark run (bench/run.sh): the
// Go verification microbenchmarks from `go test -bench -benchmem` output and the loopback
// load test from cmd/loadgen's JSON results, with absolute figures, ratios and a verdict
// on each bar of issue 2.
//
//	benchreport -gobench go-bench.txt \
//	            -ours appbackend.1.json -peer express.1.json -ours appbackend.2.json -peer express.2.json \
//	            -ours-label appbackend -peer-label "Express 5.1.0 + stripe-node 23.1.0" \
//	            -note "2 CPUs, shared with the load generator"
//
// -ours and -peer take one file per round, in order. Every input is optional; what is
// missing is left out of the table.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/appbackend/appbackend/bench/internal/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// repeated collects the values of a flag given several times.
type repeated []string

func (r *repeated) String() string     { return fmt.Sprint(*r) }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// run is the whole program; it returns the exit status: 0 success, 1 failure, 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		goBenchFile          string
		oursFiles, peerFiles repeated
		notes                repeated
		rep                  report.Report
	)
	fs.StringVar(&goBenchFile, "gobench", "", "file with `go test -bench -benchmem` output")
	fs.Var(&oursFiles, "ours", "loadgen -json result of appbackend, one per round (repeatable)")
	fs.Var(&peerFiles, "peer", "loadgen -json result of the Express peer, one per round (repeatable)")
	fs.StringVar(&rep.OursLabel, "ours-label", "appbackend", "name of appbackend in the table")
	fs.StringVar(&rep.PeerLabel, "peer-label", "Express + stripe-node", "name of the peer in the table")
	fs.Var(&notes, "note", "a note printed under the tables (repeatable)")
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
	rep.Notes = notes

	if goBenchFile != "" {
		f, err := os.Open(goBenchFile)
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %v\n", err)
			return 1
		}
		rep.Go, err = report.ParseGoBench(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "benchreport: %s: %v\n", goBenchFile, err)
			return 1
		}
		if len(rep.Go) == 0 {
			fmt.Fprintf(stderr, "benchreport: %s: no benchmark results\n", goBenchFile)
			return 1
		}
	}
	for _, in := range []struct {
		files repeated
		dst   *[]report.LoadResult
	}{{oursFiles, &rep.Ours}, {peerFiles, &rep.Peer}} {
		for _, file := range in.files {
			result, err := readLoadResult(file)
			if err != nil {
				fmt.Fprintf(stderr, "benchreport: %v\n", err)
				return 1
			}
			*in.dst = append(*in.dst, result)
		}
	}

	if err := rep.WriteMarkdown(stdout); err != nil {
		fmt.Fprintf(stderr, "benchreport: %v\n", err)
		return 1
	}
	return 0
}

func readLoadResult(file string) (report.LoadResult, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return report.LoadResult{}, err
	}
	var result report.LoadResult
	if err := json.Unmarshal(data, &result); err != nil {
		return report.LoadResult{}, fmt.Errorf("%s: not a loadgen -json result: %v", file, err)
	}
	return result, nil
}
