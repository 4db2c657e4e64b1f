//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package backup

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, waiting while a clean-up looks at it. flock
// locks are apart from the POSIX locks SQLite takes on the same file.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// tryLock takes an exclusive flock on f if nobody holds one.
func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	default:
		return false, err
	}
}

// walOpenElsewhere reports whether another process has the WAL-mode database at
// dbPath open: every SQLite connection to it holds a shared lock on the "DMS" byte
// (offset 128) of its -shm file while open, heartbeat or not.
func walOpenElsewhere(dbPath string) (bool, error) {
	f, err := os.OpenFile(dbPath+"-shm", os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: 128, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != syscall.F_UNLCK, nil
}
