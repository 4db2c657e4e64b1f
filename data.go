package appbackend

import (
	"context"
	"database/sql"
	"errors"

	"github.com/appbackend/appbackend/internal/store"
)

// DB is the app's database: the one appbackend keeps its own tables in, where the
// app's migrations (Config.Migrations) create the app's tables. It is valid once Run
// has opened the database, that is in every route, handler, hook, job and schedule
// run; nil before.
//
// Inside an event handler, hook, job or schedule run, write through its transaction
// (Tx or InTx) instead, so that the writes commit exactly with the event or job. On
// SQLite DB has a single connection, which that transaction holds: a query on DB
// while it is open waits for it. Read through ReadDB outside a transaction.
//
// Write SQL that both databases accept when the app may run on either: $1, $2, …
// placeholders are understood by SQLite and PostgreSQL alike (SQLite also takes ?,
// PostgreSQL does not), as are TEXT, INTEGER/BIGINT, BOOLEAN and
// INSERT … ON CONFLICT … DO UPDATE.
func (a *App) DB() *sql.DB {
	if a.db == nil {
		return nil
	}
	return a.db.DB()
}

// ReadDB is the app's database for reads outside a transaction: a route's queries,
// a test's checks. A transaction that a handler, hook, job or schedule run holds
// open does not block it, and it sees what has committed. On SQLite it is a pool of
// read-only connections of its own (a write through it fails: write through DB, Tx
// or InTx); on PostgreSQL it is DB. Valid once Run has opened the database; nil
// before.
func (a *App) ReadDB() *sql.DB {
	if a.db == nil {
		return nil
	}
	return a.db.ReadDB()
}

// InTx runs fn in a transaction and commits it if fn returns nil. In an event
// handler, hook, job or schedule run, fn joins the transaction that is already there
// (and it commits with the event or job, not when fn returns); elsewhere — a route, a
// goroutine — a new one is begun on DB. The ctx fn receives carries the transaction,
// so that Tx, InTx and Enqueue called with it join it too.
func (a *App) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if tx, ok := store.TxFrom(ctx); ok {
		return fn(ctx, tx)
	}
	db := a.DB()
	if db == nil {
		return errors.New("appbackend: InTx before Run opened the database")
	}
	return store.InTx(ctx, db, func(tx *sql.Tx) error { return fn(store.WithTx(ctx, tx), tx) })
}
