// Package e2etest runs appbackend as Stripe, an operator and a load balancer meet it,
// for the end-to-end tests (package e2e) and the replica tests (package replicas): it
// builds the real `appbackend` binary and the test server (internal/e2etest/testserver,
// the library embedded in a Go program with an event handler that records each applied
// event in the table e2e_effects) once per test process, runs them as processes on
// loopback ports, kills (SIGKILL), stops and restarts them, posts signed webhooks, reads
// the CLI's JSON (`events --json`, `installations --json`) and reads the database
// directly, on SQLite or PostgreSQL.
//
//	func TestMain(m *testing.M) { os.Exit(e2etest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		for _, db := range e2etest.Databases(t) {
//			t.Run(string(db), func(t *testing.T) {
//				t.Parallel()
//				s := e2etest.Start(t, e2etest.Options{Program: e2etest.TestServer, Database: db.NewSetting(t)})
//				…
//			})
//		}
//	}
//
// [Databases] is SQLite and PostgreSQL, or only the one APPBACKEND_TEST_DATABASE
// names. PostgreSQL comes from store/postgres/pgtest: APPBACKEND_TEST_POSTGRES_URL, or
// a server the test process starts from initdb/pg_ctl on a Unix socket and [Run] stops.
package e2etest
