// Package storetest is the conformance suite every [store.Store] adapter runs, so that
// the flows built on the store behave the same on SQLite and PostgreSQL.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFreshStore(t) })
//	}
//
// newStore must return an empty, migrated store for each call and close it when the
// test ends.
package storetest

import (
	"testing"

	"github.com/appbackend/appbackend/store"
)

// Run runs the suite against stores built by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Settings", func(t *testing.T) { t.Parallel(); testSettings(t, newStore(t)) })
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, ok, err := s.Setting(ctx, "missing"); err != nil || ok {
		t.Fatalf("Setting(missing) = _, %v, %v; want false, nil", ok, err)
	}
	for _, v := range []string{"first", "second"} {
		if err := s.PutSetting(ctx, "k", v); err != nil {
			t.Fatalf("PutSetting: %v", err)
		}
		got, ok, err := s.Setting(ctx, "k")
		if err != nil || !ok || got != v {
			t.Fatalf("Setting(k) = %q, %v, %v; want %q, true, nil", got, ok, err, v)
		}
	}
}
