// Package exampletb stands in for a test's testing.TB in runnable examples, which
// have none, so that an example can show appbackendtest as a test uses it and still
// check its // Output. It is shared by the root's and appbackendtest's examples.
package exampletb

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// T runs cleanups at End and turns a fatal failure into a panic, which fails the
// example as a failed test would.
type T struct {
	testing.TB // only the methods below are called
	mu         sync.Mutex
	cleanups   []func()
	failed     bool
}

// New returns a T; defer its End.
func New() *T { return &T{} }

func (t *T) Helper()                      {}
func (t *T) Name() string                 { return "Example" }
func (t *T) Context() context.Context     { return context.Background() }
func (t *T) Logf(format string, a ...any) {}

func (t *T) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *T) Errorf(format string, a ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	fmt.Fprintf(os.Stderr, format+"\n", a...)
}

func (t *T) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (t *T) Fatal(a ...any)                 { panic(fmt.Sprint(a...)) }

// FailNow is what testify's require calls after Errorf.
func (t *T) FailNow() { panic("example failed") }

func (t *T) TempDir() string {
	dir, err := os.MkdirTemp("", "appbackend-example-")
	if err != nil {
		panic(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// End runs the cleanups, last registered first, as a test's end does.
func (t *T) End() {
	t.mu.Lock()
	cleanups := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}
