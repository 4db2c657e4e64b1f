// Package appbackendtest tests a Stripe App backend built on appbackend from the
// outside, as the Dashboard and Stripe meet it: it runs the app on a loopback port
// with a database of its own, signs requests as a Dashboard user, delivers signed
// webhook events, waits for their effects, and stands in for Stripe's API.
//
// A test starts the app with the same function the app's main uses to register its
// routes, handlers, hooks, workers and schedules:
//
//	// main.go
//	func register(app *appbackend.App) {
//		app.HandleFunc("POST /api/notes", func(w http.ResponseWriter, r *http.Request) { … })
//		app.OnEvent("invoice.paid", func(ctx context.Context, ev appbackend.Event) error { … })
//	}
//
//	// main_test.go
//	func TestNotes(t *testing.T) {
//		t.Parallel()
//		app := appbackendtest.Start(t, register, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
//			cfg.Migrations = migrations // the app's embed.FS of NNNN_name.sql files
//		}))
//
//		// The merchant installs the app: the install hooks ran when Install returns.
//		app.Install(t, "acct_1", false)
//
//		// A Dashboard user calls the backend; the request is signed as Stripe signs it.
//		res := app.As("usr_1", "acct_1").WithRoles("admin").Post(t, "/api/notes", map[string]any{"text": "hello"})
//		require.Equal(t, http.StatusOK, res.Status, res)
//		var out struct{ ID string `json:"id"` }
//		res.JSON(t, &out)
//
//		// Stripe sends an event; the handler's writes committed when WaitForEvent returns.
//		id := app.Deliver(t, appbackendtest.Event{Type: "invoice.paid", Account: "acct_1"})
//		app.WaitForEvent(t, id)
//
//		// The app's own tables are in the app's database.
//		var n int
//		require.NoError(t, app.ReadDB().QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&n))
//	}
//
// # What Start runs
//
// An appbackend.App with a test configuration (see Start): the app secret
// AppSecret, the webhook secrets LiveWebhookSecret and TestWebhookSecret, the test
// key TestSecretKey on a StripeFake, a 50 ms retry delay for failed events and jobs,
// and logs that show only when the test fails. WithConfig changes any of it.
// Everything stops when the test ends; the test fails if the app's Run returns an
// error.
//
// # Databases
//
// By default each App has a new SQLite file in t.TempDir(). To run the same tests on
// PostgreSQL, name a server and choose it:
//
//	APPBACKEND_TEST_DATABASE=postgres \
//	APPBACKEND_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres go test ./...
//
// Each App then gets a new database on that server, created from a migrated template
// in milliseconds, and dropped when the test ends; the template is the test binary's
// own and is dropped when the binary ends, so nothing stays on the server. Without
// APPBACKEND_TEST_POSTGRES_URL, the kit starts a throwaway server from PostgreSQL's
// initdb and pg_ctl (on PATH or under /usr/lib/postgresql/*/bin) on a Unix socket in
// a temporary directory, stopped and removed when the binary ends; as root it runs as
// the system user postgres, which must exist (initdb refuses root). The kit installs
// nothing and creates no user: when something is missing, the test fails with one
// line saying what to set or install. App.Postgres tells a test which one it runs
// on. Write SQL both accept ($1 placeholders, TEXT, BIGINT, BOOLEAN).
//
// # Dashboard requests
//
// App.As returns a Caller for a user and account; Caller.WithRoles signs the user's
// roles as stripe_roles (a list of {"id", "name", "type"}, of which appbackend trusts
// the ids), Caller.WithLivemode signs "livemode", and Post, Get, Delete and Do send
// the request, returning a Response with a JSON helper. A POST carries its payload as
// the signed body; a GET or DELETE carries the user and account in its query string
// and can prove nothing else, as in production.
//
// # Events, jobs and schedules
//
// App.Deliver sends a signed event of any type and data.object; App.DeliverThin sends
// a thin notification, as an event destination does, after storing the full event the
// app fetches for it in App.Fake (StripeFake.PutThinEvent); App.Install and
// App.Uninstall send the lifecycle events and wait for them (Uninstall also for the
// cleanup that follows; App.UninstallBeforeCleanup and App.WaitForCleanup split the
// two, to test the state between them). App.WaitForEvent waits
// until an event is processed and fails the test with its last error if it dies;
// App.WaitForJob waits until a job (app.Enqueue) is finalized and returns its status.
// Schedules run on their spec: register one with a short spec ("@every 1s") in tests
// and wait for its effect with bounded polling (testify's require.Eventually).
//
// # One job or one event handler, without a server
//
// NewWorker builds the app as Start does and starts its workers, handlers, hooks and
// schedules, but no HTTP server, as River's rivertest.Worker tests one worker: Work
// (or WorkAs, for an account's job) enqueues one job and returns its status once the
// worker registered for its kind finalized it; Worker.HandleEvent stores one event as
// the webhook receiver would and returns it once the app's handlers processed it.
//
// # Stripe
//
// Each App calls its own StripeFake (App.Fake), a recording in-memory Stripe API:
// POST /v1/{resource} creates an object, GET, POST and DELETE /v1/{resource}/{id}
// read, update and delete it, GET /v1/{resource} lists them, per account and mode;
// tests seed objects with StripeFake.Put, script failures with StripeFake.Script, and
// check what the app sent with StripeFake.Requests. WithStripeMock points the app at
// stripe-mock instead, which validates every request against Stripe's API
// specification; StripeMockURL starts (and if needed installs) it.
//
// # App installs
//
// The StripeFake serves Stripe's App Installs API (/v1/apps/installs: the list with
// Stripe's pagination, retrieve, reauthorize, uninstall), with the documented Install
// object. StripeFake.PutInstall seeds an install as if a merchant installed the app
// (AppInstall: account, mode, pending permissions, an OAuth auth_code…),
// DeleteInstall removes one and ApproveInstall approves what it has pending, none of
// them sending an event: that is an event Stripe never delivered. App.InstallCreated,
// App.InstallUpdated and App.InstallDeleted do the same and deliver the
// apps.install.created, .updated or .deleted event carrying the install, and wait
// for it. App.ReconcileInstalls runs the reconciliation against the fake's list (set
// Config.AppID to FakeAppID with WithConfig; App.WaitForInstallReconciles first waits
// for the one the app runs at start):
//
//	app := appbackendtest.Start(t, register, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
//		cfg.AppID = appbackendtest.FakeAppID
//	}))
//	app.WaitForInstallReconciles(t)
//	app.Fake.PutInstall(appbackendtest.AppInstall{Account: "acct_1", PermissionsPending: []string{"invoice_write"}})
//	res := app.ReconcileInstalls(t) // res.Installed: acct_1, its OnInstall hooks ran once
package appbackendtest
