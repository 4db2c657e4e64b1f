package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// LastSetting is the settings key under which the server records its latest
// scheduled backup (an [Info] as JSON), for doctor and the dashboard.
const LastSetting = "backup.last"

// Defaults of scheduled backups.
const (
	DefaultEvery = 24 * time.Hour
	DefaultKeep  = 7
)

// filePrefix and fileSuffix name scheduled backups; the time between them (UTC,
// sortable) is when the copy started.
const (
	filePrefix = "appbackend-"
	fileSuffix = ".db"
	timeLayout = "20060102T150405.000Z"
)

// Settings is where Scheduler records its latest backup.
type Settings interface {
	PutSetting(ctx context.Context, key, value string) error
}

// Scheduler copies the database into Dir every Every and keeps the newest Keep copies.
type Scheduler struct {
	DBPath   string
	Dir      string
	Every    time.Duration
	Keep     int
	Settings Settings
	Logger   *slog.Logger
}

// Run makes a backup at once if the newest in Dir is older than Every (or there is
// none), then one every Every, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	s.defaults()
	removeLeftovers(s.Dir) // Once does it again before each copy
	wait := s.Every
	if files, _ := s.backups(); len(files) == 0 {
		wait = 0
	} else if at, ok := fileTime(files[len(files)-1]); ok {
		wait = max(time.Until(at.Add(s.Every)), 0)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("scheduled backup failed", "dir", s.Dir, "err", err)
		}
		timer.Reset(s.Every)
	}
}

func (s *Scheduler) defaults() {
	if s.Every <= 0 {
		s.Every = DefaultEvery
	}
	if s.Keep <= 0 {
		s.Keep = DefaultKeep
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
}

// Once makes one backup into Dir, records it, and removes the copies beyond Keep.
func (s *Scheduler) Once(ctx context.Context) (Info, error) {
	s.defaults()
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return Info{}, err
	}
	name := filePrefix + time.Now().UTC().Format(timeLayout) + fileSuffix
	info, err := Copy(ctx, s.DBPath, filepath.Join(s.Dir, name))
	if err != nil {
		return Info{}, err
	}
	s.Logger.Info("backup written", "file", info.Path, "size", info.Size, "events", info.Events, "took", info.Took.Round(time.Millisecond))
	if s.Settings != nil {
		b, _ := json.Marshal(info)
		if err := s.Settings.PutSetting(ctx, LastSetting, string(b)); err != nil {
			s.Logger.Warn("backup written but not recorded", "err", err)
		}
	}
	s.prune()
	return info, nil
}

// backups lists the scheduled backups in Dir, oldest first.
func (s *Scheduler) backups() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if _, ok := fileTime(e.Name()); ok && e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	slices.Sort(files) // the names sort by time
	return files, nil
}

func (s *Scheduler) prune() {
	files, err := s.backups()
	if err != nil {
		return
	}
	for len(files) > s.Keep {
		if err := os.Remove(filepath.Join(s.Dir, files[0])); err != nil {
			s.Logger.Warn("remove old backup", "file", files[0], "err", err)
		}
		files = files[1:]
	}
}

// fileTime reads the start time out of a scheduled backup's file name.
func fileTime(name string) (time.Time, bool) {
	if !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
		return time.Time{}, false
	}
	t, err := time.Parse(timeLayout, strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix))
	return t, err == nil
}

// FileTime is when the scheduled backup named name (a base name) started; ok is false
// for any other file.
func FileTime(name string) (t time.Time, ok bool) { return fileTime(filepath.Base(name)) }

// Last reads the latest scheduled backup recorded in the settings; ok is false if
// there is none.
func Last(ctx context.Context, get func(ctx context.Context, key string) (string, bool, error)) (info Info, ok bool, err error) {
	v, ok, err := get(ctx, LastSetting)
	if err != nil || !ok {
		return Info{}, false, err
	}
	if err := json.Unmarshal([]byte(v), &info); err != nil {
		return Info{}, false, fmt.Errorf("read %s: %w", LastSetting, err)
	}
	return info, true, nil
}
