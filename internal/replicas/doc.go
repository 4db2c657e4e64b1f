// Package replicas tests appbackend as several replicas on one PostgreSQL database,
// the way it runs behind a load balancer when one machine is not enough. It holds
// tests only: through internal/e2etest (the harness package e2e uses too) they run
// the test server (appbackend serve plus an event handler that records each applied
// event with the replica's name) and `appbackend` as processes on loopback ports, and
// read the outcome from the database.
//
// The tests are PostgreSQL's alone: several processes share a database only there
// (a SQLite file belongs to one process), and only a database server can go away
// under a running appbackend.
//
//   - TestReplicasShareTheInbox: two replicas, events posted to either at random with
//     duplicates across them; one replica is killed with SIGKILL mid-load, the senders
//     retry on the survivor as Stripe would, and every event is stored and applied
//     exactly once — those of the jobs the killed replica was running too, which the
//     survivor takes over within 30 s of the kill, once the victim's heartbeat is stale.
//   - TestDatabaseOutage: the database goes away under a running server: /readyz and
//     webhooks answer 503 (so Stripe retries) instead of a lost 200, the process keeps
//     running, and both recover when the database returns, with every event processed
//     within 10 s of its return.
//   - BenchmarkAck: durable webhook acknowledgements per second on PostgreSQL with one
//     and two replicas (and SQLite with one, for comparison), by the method of
//     webhook.BenchmarkAck: 64 concurrent senders on loopback.
//
// PostgreSQL comes from APPBACKEND_TEST_POSTGRES_URL or, when unset, a server the
// tests start from initdb/pg_ctl (see store/postgres/pgtest). TestDatabaseOutage has
// servers of its own (pgtest.StartServer) on Unix sockets, so that a stopped server
// comes back at the same address, which no other process can take meanwhile.
package replicas
