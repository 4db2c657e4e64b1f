// Package certstore keeps CertMagic's certificates, private keys and ACME account in
// appbackend's database (its settings table), so that every replica on one database
// shares them and a restart finds them: a certificate is obtained once, not once per
// process or per start, which keeps well inside the CA's rate limits.
//
// Private keys (a certificate's, the ACME account's: every key ending in ".key") are
// sealed with the encryption key (APPBACKEND_ENCRYPTION_KEY, [WithKeys]) when one is
// configured, as OAuth tokens are; other values, and every value without a key, are
// stored as base64. Values stored unsealed before a key was configured still load,
// and [Storage.Reseal] seals them (serve at start, `appbackend rotate-key`).
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

	"github.com/appbackend/appbackend/internal/secretbox"
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
	db   DB
	keys *secretbox.Keyring
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

// Option configures [New].
type Option func(*Storage)

// WithKeys seals private keys with the keyring's first key (and opens them with any
// of its keys). An empty or nil keyring stores them unsealed.
func WithKeys(k *secretbox.Keyring) Option { return func(s *Storage) { s.keys = k } }

// New returns the storage over db.
func New(db DB, opts ...Option) *Storage {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s := &Storage{db: db, LockTTL: 5 * time.Minute, PollEvery: time.Second, held: map[string]heldLock{}, token: hex.EncodeToString(b)}
	for _, o := range opts {
		o(s)
	}
	return s
}

func dataKey(key string) string { return Prefix + strings.Trim(key, "/") }

// private reports whether the setting named k holds a private key: CertMagic names
// a certificate's PEM key and the ACME account's "….key".
func private(k string) bool { return strings.HasSuffix(k, ".key") }

// sealAD binds a sealed value to its setting, so that it does not open in another.
func sealAD(k string) string { return "certstore:" + k }

// encode is how value is stored under the setting k.
func (s *Storage) encode(k string, value []byte) (string, error) {
	plain := base64.StdEncoding.EncodeToString(value)
	if s.keys.Empty() || !private(k) {
		return plain, nil
	}
	return s.keys.Seal(plain, sealAD(k))
}

// decode reads a stored value: sealed ("v1.…", never valid base64) or base64.
func (s *Storage) decode(k, v string) ([]byte, error) {
	if _, sealed := secretbox.KeyID(v); sealed {
		if s.keys.Empty() {
			return nil, fmt.Errorf("certstore: %s is sealed with an encryption key, and none is configured (APPBACKEND_ENCRYPTION_KEY)", k)
		}
		plain, err := s.keys.Open(v, sealAD(k))
		if err != nil {
			return nil, fmt.Errorf("certstore: open %s: %w", k, err)
		}
		v = plain
	}
	return base64.StdEncoding.DecodeString(v)
}

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	k := dataKey(key)
	v, err := s.encode(k, value)
	if err != nil {
		return err
	}
	return s.db.PutSetting(ctx, k, v)
}

// Load implements certmagic.Storage; fs.ErrNotExist when the key is absent.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	k := dataKey(key)
	v, ok, err := s.db.Setting(ctx, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	return s.decode(k, v)
}

// Reseal seals, with the keyring's first key, every stored private key that is
// unsealed (stored before a key was configured) or sealed by another key, and
// returns how many it sealed. Each is replaced only if it still holds the value read
// (a certificate renewed meanwhile keeps its new key). Without a key: ErrNoKey.
func (s *Storage) Reseal(ctx context.Context) (int, error) {
	if s.keys.Empty() {
		return 0, secretbox.ErrNoKey
	}
	rows, err := s.db.SettingsWithPrefix(ctx, Prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		if !private(r.Key) {
			continue
		}
		if id, sealed := secretbox.KeyID(r.Value); sealed && id == s.keys.PrimaryID() {
			continue
		}
		value, err := s.decode(r.Key, r.Value)
		if err != nil {
			return n, err
		}
		v, err := s.encode(r.Key, value)
		if err != nil {
			return n, err
		}
		// No compare-and-set of a setting: delete-if-unchanged, then insert-if-absent
		// (a value another process stored in between wins).
		ok, err := s.db.DeleteSettingIf(ctx, r.Key, r.Value)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		if _, err := s.db.PutSettingIfAbsent(ctx, r.Key, v); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
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
			if _, sealed := secretbox.KeyID(r.Value); sealed {
				b, _ := s.decode(r.Key, r.Value)
				n = len(b)
			}
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
