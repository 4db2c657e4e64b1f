package e2e

import (
	"os"
	"testing"

	"github.com/appbackend/appbackend/internal/e2etest"
)

func TestMain(m *testing.M) {
	code := e2etest.Run(m)
	nodeSigner.close()
	os.Exit(code)
}

// e2ePoolSize caps each server's PostgreSQL connections: many servers run at once on
// one test PostgreSQL (max_connections 100), with other packages' tests beside them.
const e2ePoolSize = "8"

// startServer starts a server on a new database of the kind db; it is stopped when
// the test ends.
func startServer(t testing.TB, db e2etest.Database, opts e2etest.Options) *e2etest.Server {
	t.Helper()
	opts.Database = db.NewSetting(t)
	if db == e2etest.PostgreSQL {
		env := map[string]string{"APPBACKEND_DB_POOL": e2ePoolSize}
		for k, v := range opts.Env {
			env[k] = v
		}
		opts.Env = env
	}
	return e2etest.Start(t, opts)
}

// onEachDatabase runs test as a parallel subtest per database (e2etest.Databases).
func onEachDatabase(t *testing.T, test func(t *testing.T, db e2etest.Database)) {
	for _, db := range e2etest.Databases(t) {
		t.Run(string(db), func(t *testing.T) {
			t.Parallel()
			test(t, db)
		})
	}
}
