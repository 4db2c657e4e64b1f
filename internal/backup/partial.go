package backup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A partial is a file being written under a temporary name, DEST.<8 hex>.partial,
// renamed to its final name only once whole. Its writer holds an exclusive lock on it
// (flock on unix) for as long as it writes, so that a later run tells the leftover of
// a killed one (no lock: removed) from the file of a live one (locked: left alone).
// SQLite writes a PARTIAL-journal beside a VACUUM INTO target; it goes with its
// partial.
type partial struct {
	path string
	f    *os.File
}

// createPartial creates and locks a new partial beside dest, mode 0600 whatever the
// umask.
func createPartial(dest string) (*partial, error) {
	var lastErr error
	for range 5 {
		path := dest + "." + randomSuffix() + partialSuffix
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if errors.Is(err, fs.ErrExist) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := lockFile(f); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		// Another run's clean-up may have taken the file for a leftover between the
		// create and the lock and removed it: then the name is no longer ours.
		if sameFile(f, path) {
			return &partial{path: path, f: f}, nil
		}
		f.Close()
		lastErr = errors.New("removed while being created")
	}
	return nil, errors.Join(errors.New("create a temporary file beside "+dest), lastErr)
}

// discard removes the partial, if it is still there, and its journal, then drops the
// lock. After a successful rename only the lock is left to drop.
func (p *partial) discard() {
	if sameFile(p.f, p.path) {
		os.Remove(p.path)
	}
	os.Remove(p.path + "-journal")
	p.f.Close()
}

// sameFile reports whether path still names the open file f.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

// isPartialName reports whether name is a partial's: NAME.<hex>.partial (8 hex digits
// since the first release; a little leeway either way).
func isPartialName(name string) bool {
	rest, ok := strings.CutSuffix(name, partialSuffix)
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '.')
	if n := len(rest) - i - 1; i < 1 || n < 4 || n > 16 {
		return false
	}
	for _, c := range rest[i+1:] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// removeLeftovers removes, in dir, the partials (and their journals) that runs killed
// before they finished left behind, and keeps those a live run is writing. Errors
// are ignored: a leftover that cannot be removed now is removed by a later run.
func removeLeftovers(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if isPartialName(name) {
			removeIfAbandoned(filepath.Join(dir, name))
		}
	}
	// Journals after their partials, so that one whose partial was just removed goes
	// too.
	for _, e := range entries {
		name := e.Name()
		base, ok := strings.CutSuffix(name, "-journal")
		if !ok || !isPartialName(base) || !e.Type().IsRegular() {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, base)); errors.Is(err, fs.ErrNotExist) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// removeIfAbandoned removes the partial at path unless its writer still holds it.
func removeIfAbandoned(path string) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if ok, err := tryLock(f); err != nil || !ok {
		return // a live run writes it
	}
	// Remove it while holding the lock, and only if the name is still this file.
	if sameFile(f, path) {
		os.Remove(path)
	}
}
