package appbackendtest

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that a running app or program writes (its Logger, the
// stdout and stderr of an app's command line run in-process) while the test reads it:
// Write and String may be called from different goroutines. The zero value is empty
// and ready.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
