// Package replicas tests appbackend as several replicas on one PostgreSQL database,
// the way it runs behind a load balancer when one machine is not enough. It holds
// tests only: they build replicas/testserver (appbackend serve plus an event handler
// that records each applied event with the replica's name) and `appbackend` once, run
// them as processes on loopback ports, and read the outcome from the database.
//
//   - TestReplicasShareTheInbox: two replicas, events posted to either at random with
//     duplicates across them; one replica is killed with SIGKILL mid-load, the senders
//     retry on the survivor as Stripe would, and every event is stored and applied
//     exactly once.
//   - TestDatabaseOutage: the database goes away under a running server: /readyz and
//     webhooks answer 503 (so Stripe retries) instead of a lost 200, the process keeps
//     running, and both recover when the database returns.
//   - BenchmarkAck: durable webhook acknowledgements per second on PostgreSQL with one
//     and two replicas (and SQLite with one, for comparison), by the method of
//     webhook.BenchmarkAck: 64 concurrent senders on loopback.
//
// PostgreSQL comes from APPBACKEND_TEST_POSTGRES_URL or, when unset, a server the
// tests start with scripts/postgres.sh (see store/postgres/pgtest).
package replicas
