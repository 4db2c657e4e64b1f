package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// SettingRow is one setting with when it was last written.
type SettingRow struct {
	Key       string
	Value     string
	UpdatedAt time.Time
}

// SettingsWithPrefix lists the settings whose key starts with prefix, by key. It reads
// on the write pool, so that it sees what this process just wrote (certificate
// storage reads back its own writes at once).
func (q *Queries) SettingsWithPrefix(ctx context.Context, prefix string) ([]SettingRow, error) {
	rows, err := q.write.QueryContext(ctx, q.rebind(`SELECT key, value, updated_at FROM appbackend_settings
		WHERE substr(key, 1, ?) = ? ORDER BY key`), len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("list settings %q: %w", prefix, err)
	}
	defer rows.Close()
	var out []SettingRow
	for rows.Next() {
		var r SettingRow
		var at int64
		if err := rows.Scan(&r.Key, &r.Value, &at); err != nil {
			return nil, fmt.Errorf("list settings %q: %w", prefix, err)
		}
		r.UpdatedAt = fromMicros(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteSettingsWithPrefix deletes the setting key and every setting under key+"/".
func (q *Queries) DeleteSettingsWithPrefix(ctx context.Context, key string) error {
	dir := key + "/"
	_, err := q.write.ExecContext(ctx, q.rebind(`DELETE FROM appbackend_settings
		WHERE key = ? OR substr(key, 1, ?) = ?`), key, len(dir), dir)
	if err != nil {
		return fmt.Errorf("delete settings %q: %w", key, err)
	}
	return nil
}

// DeleteSettingIf deletes key if it holds value, and reports whether it did (a
// compare-and-delete, for locks kept in the settings).
func (q *Queries) DeleteSettingIf(ctx context.Context, key, value string) (bool, error) {
	res, err := q.write.ExecContext(ctx, q.rebind(`DELETE FROM appbackend_settings WHERE key = ? AND value = ?`), key, value)
	if err != nil {
		return false, fmt.Errorf("delete setting %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
