package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one schema migration: one of appbackend's own, or one of the app's
// (Config.Migrations).
type Migration struct {
	Version int
	Name    string // the file name without .sql: "0001_accounts"
	SQL     string
}

// ReadMigrations reads the migrations of fsys for one database dialect ("sqlite" or
// "postgres"): the files NNNN_name.sql at its root, which both databases run, and
// those in its folder named after the dialect, which replace a root file of the same
// version or add one for that database alone. Any other file or folder at the root is
// an error, so that a typo cannot leave a migration out. The list is in version order.
func ReadMigrations(fsys fs.FS, dialect string) ([]Migration, error) {
	if fsys == nil {
		return nil, nil
	}
	byVersion := map[int]Migration{}
	read := func(dir string, override bool) error {
		entries, err := fs.ReadDir(fsys, dir)
		if errors.Is(err, fs.ErrNotExist) && dir != "." {
			return nil
		}
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		seen := map[int]string{}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() {
				if dir == "." && (name == "sqlite" || name == "postgres") {
					continue
				}
				return fmt.Errorf("migrations: unexpected folder %s (want sqlite/ or postgres/)", path.Join(dir, name))
			}
			num, _, ok := strings.Cut(name, "_")
			version, err := strconv.Atoi(num)
			if !ok || err != nil || version <= 0 || !strings.HasSuffix(name, ".sql") {
				return fmt.Errorf("migrations: file %s: want NNNN_name.sql with NNNN > 0", path.Join(dir, name))
			}
			if other, dup := seen[version]; dup {
				return fmt.Errorf("migrations: %s and %s have the same version %d", path.Join(dir, other), path.Join(dir, name), version)
			}
			seen[version] = name
			body, err := fs.ReadFile(fsys, path.Join(dir, name))
			if err != nil {
				return fmt.Errorf("migrations: %w", err)
			}
			if _, exists := byVersion[version]; exists && !override {
				continue
			}
			byVersion[version] = Migration{Version: version, Name: strings.TrimSuffix(name, ".sql"), SQL: string(body)}
		}
		return nil
	}
	if err := read(".", false); err != nil {
		return nil, err
	}
	if err := read(dialect, true); err != nil {
		return nil, err
	}
	list := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b Migration) int { return a.Version - b.Version })
	return list, nil
}
