package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/appbackend/appbackend/bench/internal/report"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on every Linux
// architecture Go supports (the kernel's HZ is hidden from user space).
const userHZ = 100

// processCPU is a CPU-time sample of this process, of the server (when serverOK), and of
// the whole machine (when machineOK), summed over every CPU.
type processCPU struct {
	self      float64
	server    float64
	serverOK  bool
	machine   machineCPU
	machineOK bool
}

// machineCPU is the time all CPUs spent running something (busy) and the time the
// hypervisor gave a virtual CPU that wanted to run to someone else (steal).
type machineCPU struct {
	busy, steal float64
}

func sampleCPU(serverPID int) processCPU {
	var sample processCPU
	var usage syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &usage) == nil {
		sample.self = (time.Duration(usage.Utime.Nano()) + time.Duration(usage.Stime.Nano())).Seconds()
	}
	if serverPID > 0 {
		sample.server, sample.serverOK = readProcessCPU(serverPID)
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		sample.machine, sample.machineOK = parseProcStatMachine(data)
	}
	return sample
}

// parseProcStatMachine reads the "cpu" line of /proc/stat: busy is user, nice, system,
// irq and softirq (guest time is already inside user); idle and iowait are not busy.
func parseProcStatMachine(data []byte) (machineCPU, bool) {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineCPU{}, false
	}
	ticks := func(i int) (int64, bool) {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		return n, err == nil
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		n, ok := ticks(i)
		if !ok {
			return machineCPU{}, false
		}
		busy += n
	}
	steal, ok := ticks(8)
	if !ok {
		return machineCPU{}, false
	}
	return machineCPU{busy: float64(busy) / userHZ, steal: float64(steal) / userHZ}, true
}

// processRunning reports whether pid exists and has not exited: a process that exited
// stays in /proc as a zombie (state Z) until its parent reaps it.
func processRunning(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return false
	}
	state := strings.Fields(string(data[end+1:]))
	return len(state) > 0 && state[0] != "Z" && state[0] != "X"
}

// readProcessCPU returns the user+system CPU seconds of pid from /proc/PID/stat.
func readProcessCPU(pid int) (float64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	return parseProcStatCPU(data)
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat line.
// The command name (field 2) is in parentheses and may contain spaces, so fields are
// counted from the last ')'.
func parseProcStatCPU(data []byte) (float64, bool) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, false
	}
	fields := strings.Fields(string(data[end+1:]))
	// fields[0] is field 3 (state), so field N is fields[N-3].
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(utime+stime) / userHZ, true
}

// readServerStats reads the peak and current resident memory of pid.
func readServerStats(pid int) *report.ServerStats {
	stats := &report.ServerStats{PID: pid}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		stats.Error = fmt.Sprintf("cannot read its memory: %v", err)
		return stats
	}
	stats.PeakRSSKiB, stats.RSSKiB, err = parseProcStatusMemory(data)
	if err != nil {
		stats.Error = err.Error()
	}
	return stats
}

// parseProcStatusMemory returns VmHWM and VmRSS, in KiB, from a /proc/PID/status file.
func parseProcStatusMemory(data []byte) (peakKiB, currentKiB int64, err error) {
	found := map[string]int64{}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", key, scanner.Text())
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("unexpected %s line %q", key, scanner.Text())
		}
		found[key] = n
	}
	peak, okPeak := found["VmHWM"]
	current, okCurrent := found["VmRSS"]
	if !okPeak || !okCurrent {
		return 0, 0, fmt.Errorf("VmHWM or VmRSS missing from /proc status")
	}
	return peak, current, nil
}
