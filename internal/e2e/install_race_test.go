package e2e

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
	"github.com/stretchr/testify/require"
)

// TestInstallOrderUnderConcurrentProcessing delivers the lifecycle events of many new
// accounts (install, uninstall, reinstall, uninstall, in a shuffled order and from
// several senders at once) so that events of one account are processed by concurrent
// jobs. Each account ends in its newest event's state, and its OnInstall and
// OnUninstall hooks ran once per real change of status, alternating.
func TestInstallOrderUnderConcurrentProcessing(t *testing.T) {
	t.Parallel()
	onEachDatabase(t, func(t *testing.T, db e2etest.Database) {
		s := startServer(t, db, e2etest.Options{Program: e2etest.TestServer, LogLevel: "warn"})
		const accounts = 40
		rng := rand.New(rand.NewPCG(17, 1))
		now := time.Now()
		var (
			bodies [][]byte
			ids    []string
			newest = map[string]string{} // account → status its newest event sets
		)
		for a := range accounts {
			account := fmt.Sprintf("acct_e2e_race_%02d", a)
			steps := []event{
				{Type: "account.application.authorized", Created: now.Add(-3 * time.Minute)},
				{Type: "account.application.deauthorized", Created: now.Add(-2 * time.Minute)},
				{Type: "account.application.authorized", Created: now.Add(-time.Minute)},
				{Type: "account.application.deauthorized", Created: now},
			}
			// Half the accounts end installed: their last uninstall never happened.
			if a%2 == 1 {
				steps = steps[:3]
			}
			newest[account] = map[bool]string{true: "installed", false: "uninstalled"}[len(steps) == 3]
			for _, ev := range steps {
				ev.Account, ev.Live = account, true
				bodies = append(bodies, ev.body())
				ids = append(ids, ev.ID)
			}
		}
		order := rng.Perm(len(bodies))

		const senders = 4
		next := make(chan int)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for i := range next {
					deliver(t, s, signers[0], bodies[i], e2etest.LiveWebhookSecret)
				}
			})
		}
		for _, i := range order {
			next <- i
		}
		close(next)
		wg.Wait()

		if !e2etest.WaitFor(60*time.Second, func() bool {
			statuses := e2etest.EventStatuses(t, s.DB())
			for _, id := range ids {
				if statuses[id] != "processed" {
					return false
				}
			}
			return true
		}) {
			require.FailNow(t, fmt.Sprintf("events not all processed after 60 s: %v", e2etest.StatusCounts(t, s.DB())))
		}

		for _, in := range s.Installations() {
			want, ok := newest[in.AccountID]
			require.False(t, ok && in.Status != want, "%s ended %s, want %s (its newest event's)", in.AccountID, in.Status, want)
		}
		hooks := e2etest.CountBy(t, s.DB(), `SELECT account_id || ':' || status, COUNT(*) FROM e2e_hooks GROUP BY account_id, status`)
		for account, want := range newest {
			installs, uninstalls := hooks[account+":installed"], hooks[account+":uninstalled"]
			// Hooks alternate and the last is the newest status: the count of that
			// status is the other's or one more.
			last, other := uninstalls, installs
			if want == "installed" {
				last, other = installs, uninstalls
			}
			d := last - other
			require.False(t, d != 0 && d != 1, "%s: %d install and %d uninstall hook calls, ending %s: they do not alternate", account, installs, uninstalls, want)
			require.NotEqual(t, 0, last, "%s: %d install and %d uninstall hook calls, ending %s: they do not alternate", account, installs, uninstalls, want)
		}
	})
}
