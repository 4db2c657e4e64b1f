// Package cli is appbackend's command line: `serve` and every operator command
// (migrate, doctor, events, jobs, schedules, backup, restore, …). The stock binary,
// cmd/appbackend, is Main and nothing else.
package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs the command line on the process's arguments and environment, and exits
// with its status: 0 on success, 1 when the command failed, 2 when it was called wrongly.
// SIGINT and SIGTERM stop a running server gracefully.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
