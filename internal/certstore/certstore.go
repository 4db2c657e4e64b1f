// Package certstore keeps CertMagic's certificates, private keys and ACME account in
// appbackend's database (its settings table), so that every replica on one database
// shares them and a restart finds them: a certificate is obtained once, not once per
// process or per start, which keeps well inside the CA's rate limits.
//
// Locks are rows too: a lock is a setting holding a random token and its expiry,
// taken with an insert that only one process wins, released with a
// compare-and-delete, and taken over once expired (a process that died holding it).
package certstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/appbackend/appbackend/internal/store/sqlstore"
)

// Prefix starts the settings keys of stored certificate data.
const (
	Prefix     = "certmagic/"
	lockPrefix = "certmagic-lock/"
)

// DB is what the storage needs of the store: the settings and a few prefix queries
// (both adapters have them through sqlstore.Queries).
type DB interface {
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string) error
	PutSettingIfAbsent(ctx context.Context, key, value string) (string, error)
	SettingsWithPrefix(ctx context.Context, prefix string) ([]sqlstore.SettingRow, error)
	DeleteSettingsWithPrefix(ctx context.Context, key string) error
	DeleteSettingIf(ctx context.Context, key, value string) (bool, error)
}

// Storage is a certmagic.Storage on the database.
type Storage struct {
	db DB
	// LockTTL is how long a lock holds without its holder (default 5 minutes); a
	// holder refreshes it while it works.
	LockTTL time.Duration
	// PollEvery is how often a waiting Lock retries (default 1s).
	PollEvery time.Duration

	mu    sync.Mutex
	held  map[string]heldLock
	token string
}

type heldLock struct {
	value string
	stop  chan struct{}
}

var _ certmagic.Storage = (*Storage)(nil)

// New returns the storage over db.
func New(db DB) *Storage {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Storage{db: db, LockTTL: 5 * time.Minute, PollEvery: time.Second, held: map[string]heldLock{}, token: hex.EncodeToString(b)}
}

func dataKey(key string) string { return Prefix + strings.Trim(key, "/") }

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	return s.db.PutSetting(ctx, dataKey(key), base64.StdEncoding.EncodeToString(value))
}

// Load implements certmagic.Storage; fs.ErrNotExist when the key is absent.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	v, ok, err := s.db.Setting(ctx, dataKey(key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return base64.StdEncoding.DecodeString(v)
}

// Delete implements certmagic.Storage: the key and everything under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.db.DeleteSettingsWithPrefix(ctx, dataKey(key))
}

// Exists implements certmagic.Storage: a key or a "directory" of keys.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	rows, err := s.db.SettingsWithPrefix(ctx, dataKey(key))
	if err != nil {
		return false
	}
	k := dataKey(key)
	for _, r := range rows {
		if r.Key == k || strings.HasPrefix(r.Key, k+"/") {
			return true
		}
	}
	return false
}

// List implements certmagic.Storage.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	base := dataKey(dir)
	rows, err := s.db.SettingsWithPrefix(ctx, base+"/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rows {
		rest := strings.TrimPrefix(r.Key, base+"/")
		name := rest
		if !recursive {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				name = rest[:i]
			}
		}
		full := path.Join(strings.Trim(dir, "/"), name)
		if !seen[full] {
			seen[full] = true
			out = append(out, full)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, fs.ErrNotExist)
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	k := dataKey(key)
	rows, err := s.db.SettingsWithPrefix(ctx, k)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	for _, r := range rows {
		if r.Key == k {
			n := base64.StdEncoding.DecodedLen(len(r.Value))
			return certmagic.KeyInfo{Key: key, Modified: r.UpdatedAt, Size: int64(n), IsTerminal: true}, nil
		}
		if strings.HasPrefix(r.Key, k+"/") {
			return certmagic.KeyInfo{Key: key, Modified: r.UpdatedAt, IsTerminal: false}, nil
		}
	}
	return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
}

// Lock implements certmagic.Locker. It waits while another holder's lock is fresh,
// takes over an expired one, and refreshes its own until Unlock.
func (s *Storage) Lock(ctx context.Context, name string) error {
	key := lockPrefix + name
	for {
		value := s.token + "-" + randomHex() + " " + strconv.FormatInt(time.Now().Add(s.LockTTL).UnixMilli(), 10)
		stored, err := s.db.PutSettingIfAbsent(ctx, key, value)
		if err != nil {
			return err
		}
		if stored == value {
			s.hold(key, value)
			return nil
		}
		if lockExpired(stored) {
			// Whoever deletes the expired value wins the next insert race fairly.
			if _, err := s.db.DeleteSettingIf(ctx, key, stored); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.PollEvery):
		}
	}
}

func lockExpired(value string) bool {
	i := strings.LastIndexByte(value, ' ')
	if i < 0 {
		return true
	}
	ms, err := strconv.ParseInt(value[i+1:], 10, 64)
	return err != nil || time.Now().UnixMilli() > ms
}

// hold records the lock and keeps it fresh while held.
func (s *Storage) hold(key, value string) {
	stop := make(chan struct{})
	s.mu.Lock()
	s.held[key] = heldLock{value: value, stop: stop}
	s.mu.Unlock()
	go func() {
		t := time.NewTicker(s.LockTTL / 3)
		defer t.Stop()
		current := value
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			next := current[:strings.LastIndexByte(current, ' ')] + " " + strconv.FormatInt(time.Now().Add(s.LockTTL).UnixMilli(), 10)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// Under mu, so that Unlock never deletes a value this refresh replaced.
			s.mu.Lock()
			if h, ok := s.held[key]; ok && h.stop == stop {
				// Refresh only while still ours: delete-if-ours, then put back.
				if ok, err := s.db.DeleteSettingIf(ctx, key, current); err == nil && ok {
					if _, err := s.db.PutSettingIfAbsent(ctx, key, next); err == nil {
						current = next
						s.held[key] = heldLock{value: next, stop: stop}
					}
				}
			}
			s.mu.Unlock()
			cancel()
		}
	}()
}

// Unlock implements certmagic.Locker.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	key := lockPrefix + name
	s.mu.Lock()
	h, ok := s.held[key]
	delete(s.held, key)
	s.mu.Unlock()
	if !ok {
		return errors.New("certstore: unlock of a lock not held: " + name)
	}
	close(h.stop)
	_, err := s.db.DeleteSettingIf(ctx, key, h.value)
	return err
}

func randomHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
