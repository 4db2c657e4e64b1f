package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// stmtCacheSize bounds the statements one connection keeps prepared. River's SQLite
// driver and appbackend's own queries use a few dozen distinct texts; the rest (texts
// built per call) cycle through the least recently used slots.
const stmtCacheSize = 128

// connector opens modernc.org/sqlite connections that keep their statements prepared.
//
// modernc.org/sqlite parses a query's SQL again on every db.ExecContext or
// db.QueryContext that was not prepared by the caller, and River's SQLite driver calls
// those for every fetch, insert and completion: under webhook load, parsing SQL was a
// sixth of the server's CPU time. A statement kept prepared per connection and text
// skips the parse (SQLite re-prepares it itself after a schema change).
type connector struct {
	dsn string
	drv *sqlite.Driver
}

func (c connector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("sqlite: driver connection lacks the context methods")
	}
	return &cachingConn{sqliteConn: inner, stmts: make(map[string]*cachedStmt)}, nil
}

func (c connector) Driver() driver.Driver { return c.drv }

// sqliteConn is what modernc.org/sqlite's connection implements and database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// sqliteStmt is what modernc.org/sqlite's statements implement.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// sqliteRows is what modernc.org/sqlite's rows implement; cachedRows keeps it all
// visible to database/sql (ColumnTypes).
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachingConn is one connection and its prepared statements. database/sql never uses
// a connection from two goroutines at once, so it needs no lock.
type cachingConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
	clock uint64 // bumped on every use; the smallest lastUse is evicted first
}

type cachedStmt struct {
	stmt    sqliteStmt
	lastUse uint64
	// inUse is set while rows read from the statement: a query that runs while another
	// one's rows are still open (in one transaction) must not reset them, so it
	// prepares a statement of its own.
	inUse bool
}

// stmt returns the prepared statement for query, preparing and caching it on first
// use, or nil when the cached one is busy with open rows.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	c.clock++
	if cs, ok := c.stmts[query]; ok {
		if cs.inUse {
			return nil, nil
		}
		cs.lastUse = c.clock
		return cs, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	prepared, ok := st.(sqliteStmt)
	if !ok {
		_ = st.Close()
		return nil, nil
	}
	if len(c.stmts) >= stmtCacheSize {
		c.evictOne()
	}
	cs := &cachedStmt{stmt: prepared, lastUse: c.clock}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachingConn) evictOne() {
	var (
		oldestQuery string
		oldest      *cachedStmt
	)
	for q, cs := range c.stmts {
		if !cs.inUse && (oldest == nil || cs.lastUse < oldest.lastUse) {
			oldestQuery, oldest = q, cs
		}
	}
	if oldest != nil {
		_ = oldest.stmt.Close()
		delete(c.stmts, oldestQuery)
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	full, ok := rows.(sqliteRows)
	if !ok {
		_ = rows.Close()
		return nil, errors.New("sqlite: driver rows lack the column type methods")
	}
	cs.inUse = true
	return &cachedRows{sqliteRows: full, stmt: cs}, nil
}

func (c *cachingConn) Close() error {
	for q, cs := range c.stmts {
		_ = cs.stmt.Close()
		delete(c.stmts, q)
	}
	return c.sqliteConn.Close()
}

// cachedRows hands its statement back when closed.
type cachedRows struct {
	sqliteRows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.sqliteRows.Close()
	if r.stmt != nil {
		r.stmt.inUse = false
		r.stmt = nil
	}
	return err
}

// registeredDriver is the driver modernc.org/sqlite registers as "sqlite", with any
// functions or hooks registered on it.
func registeredDriver() *sqlite.Driver {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic("modernc.org/sqlite is not registered: " + err.Error())
	}
	defer db.Close()
	return db.Driver().(*sqlite.Driver)
}
