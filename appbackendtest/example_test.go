package appbackendtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing/fstest"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/exampletb"
)

// register is the app under test, as its main registers it: a signed route that
// reads the caller's identity, an invoice handler that records the invoice in the
// app's table and fetches it from Stripe, and a job.
func register(app *appbackend.App) {
	app.HandleFunc("POST /api/whoami_with_roles", func(w http.ResponseWriter, r *http.Request) {
		id, _ := appbackend.IdentityFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"account": id.AccountID, "admin": id.HasRole("admin")})
	})
	app.OnEvent("invoice.paid", func(ctx context.Context, ev appbackend.Event) error {
		var obj struct {
			ID string `json:"id"`
		}
		if err := ev.DataObject(&obj); err != nil {
			return err
		}
		sc, err := app.Stripe(ctx) // the event's account, in its mode
		if err != nil {
			return err
		}
		inv, err := sc.V1Invoices.Retrieve(ctx, obj.ID, nil)
		if err != nil {
			return err
		}
		tx, _ := appbackend.Tx(ctx) // commits with the event, exactly once
		_, err = tx.ExecContext(ctx, `INSERT INTO paid_invoices (id, account_id, amount_paid) VALUES ($1, $2, $3)`,
			inv.ID, ev.AccountID, inv.AmountPaid)
		return err
	})
	appbackend.AddWorker(app, river.WorkFunc(func(ctx context.Context, job *appbackend.Job[reportArgs]) error {
		return river.RecordOutput(ctx, map[string]string{"report": "done"})
	}))
}

type reportArgs struct{}

func (reportArgs) Kind() string { return "example.report" }

// migrations are the app's own tables.
var migrations = fstest.MapFS{
	"0001_paid_invoices.sql": {Data: []byte(`CREATE TABLE paid_invoices (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, amount_paid BIGINT NOT NULL)`)},
}

// A test of a route: the request is signed as the Dashboard signs it, for a user
// of an account, with the user's roles.
func ExampleApp_As() {
	t := exampleT() // in a test: the test's *testing.T
	defer t.End()

	app := appbackendtest.Start(t, register)
	res := app.As("usr_1", "acct_1").WithRoles("admin").Post(t, "/api/whoami_with_roles", nil)
	var out struct {
		Account string `json:"account"`
		Admin   bool   `json:"admin"`
	}
	res.JSON(t, &out)
	fmt.Println(res.Status, out.Account, out.Admin)

	res = app.As("usr_2", "acct_1").Post(t, "/api/whoami_with_roles", nil)
	res.JSON(t, &out)
	fmt.Println(res.Status, out.Account, out.Admin)
	// Output:
	// 200 acct_1 true
	// 200 acct_1 false
}

// A test of an event handler: the merchant installs the app, Stripe holds an
// invoice on their account, and Stripe sends invoice.paid.
func ExampleApp_Deliver() {
	t := exampleT()
	defer t.End()

	app := appbackendtest.Start(t, register, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.Migrations = migrations
	}))
	app.Install(t, "acct_1", false)
	inv := app.Fake.Put("acct_1", false, "invoices", map[string]any{"amount_paid": 2000, "status": "paid"})

	id := app.Deliver(t, appbackendtest.Event{
		Type:    "invoice.paid",
		Account: "acct_1",
		Object:  map[string]any{"id": inv["id"], "object": "invoice"},
	})
	ev := app.WaitForEvent(t, id)

	var amount int64
	require.NoError(t, app.ReadDB().QueryRow(`SELECT amount_paid FROM paid_invoices WHERE id = $1`, inv["id"]).Scan(&amount))
	fmt.Println(ev.Status, inv["id"], amount)
	// Output: processed in_fake1 2000
}

// A test of a job: enqueue it, wait until it is finalized, read its status.
func ExampleApp_WaitForJob() {
	t := exampleT()
	defer t.End()

	app := appbackendtest.Start(t, register)
	res, err := app.Enqueue(context.Background(), reportArgs{}, nil)
	require.NoError(t, err)
	status := app.WaitForJob(t, res.Job.ID)
	var output map[string]string
	require.NoError(t, json.Unmarshal(status.Output, &output))
	fmt.Println(status.State, status.Attempts, output["report"])
	// Output: completed 1 done
}

// A test of the time between an uninstall and its cleanup: the installation is
// uninstalled and the app's data is still there until the OnCleanup hooks ran. The
// hook is held on a channel so that the test sees that state before the cleanup job
// (which starts at once) removes it.
func ExampleApp_UninstallBeforeCleanup() {
	t := exampleT()
	defer t.End()

	release := make(chan struct{})
	app := appbackendtest.Start(t, func(app *appbackend.App) {
		app.OnCleanup(func(ctx context.Context, account string, livemode bool) error {
			<-release
			tx, _ := appbackend.Tx(ctx)
			_, err := tx.ExecContext(ctx, `DELETE FROM paid_invoices WHERE account_id = $1`, account)
			return err
		})
	}, appbackendtest.WithConfig(func(cfg *appbackend.Config) { cfg.Migrations = migrations }))
	app.Install(t, "acct_1", false)
	_, err := app.DB().Exec(`INSERT INTO paid_invoices (id, account_id, amount_paid) VALUES ('in_1', 'acct_1', 2000)`)
	require.NoError(t, err)
	count := func() (n int) {
		require.NoError(t, app.ReadDB().QueryRow(`SELECT COUNT(*) FROM paid_invoices WHERE account_id = 'acct_1'`).Scan(&n))
		return n
	}

	in := app.UninstallBeforeCleanup(t, "acct_1", false)
	fmt.Println(in.Status, count())

	close(release)
	app.WaitForCleanup(t, in)
	fmt.Println(count())
	// Output:
	// uninstalled 1
	// 0
}

// The StripeFake answers any resource: what the app creates can be read back, and
// what a test seeds, the app reads.
func ExampleStripeFake() {
	fake := appbackendtest.StartStripeFake() // in a test: appbackendtest.NewStripeFake(t)
	defer fake.Close()

	sc := stripe.NewClient(appbackendtest.TestSecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: &fake.URL})))
	params := &stripe.CustomerCreateParams{Email: stripe.String("jenny@example.test")}
	params.AddMetadata("plan", "pro")
	params.SetStripeAccount("acct_1")
	cus, err := sc.V1Customers.Create(context.Background(), params)
	if err != nil {
		panic(err)
	}
	stored, _ := fake.Get("acct_1", false, "customers", cus.ID)
	fmt.Println(cus.ID, cus.Email, cus.Metadata["plan"], stored["email"])

	fake.Put("acct_1", false, "products", map[string]any{"id": "prod_Seeded", "name": "Seeded"})
	get := &stripe.ProductRetrieveParams{}
	get.SetStripeAccount("acct_1")
	prod, err := sc.V1Products.Retrieve(context.Background(), "prod_Seeded", get)
	if err != nil {
		panic(err)
	}
	fmt.Println(prod.Name)
	// Output:
	// cus_fake1 jenny@example.test pro jenny@example.test
	// Seeded
}

// exampleT stands in for a test's *testing.T in these examples, which have none.
func exampleT() *exampletb.T { return exampletb.New() }

// A test of one job and one event handler, without an HTTP server: NewWorker starts
// the app's workers on a database of its own, Work runs a job with the worker
// registered for its kind, HandleEvent runs the handlers of an event's type.
func ExampleNewWorker() {
	t := exampleT()
	defer t.End()

	w := appbackendtest.NewWorker(t, register, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.Migrations = migrations
	}))
	status := appbackendtest.Work(t, w, reportArgs{})
	var output map[string]string
	require.NoError(t, json.Unmarshal(status.Output, &output))
	fmt.Println(status.State, output["report"])

	inv := w.Fake.Put("acct_1", false, "invoices", map[string]any{"amount_paid": 1500, "status": "paid"})
	ev := w.HandleEvent(t, appbackendtest.Event{
		Type:    "invoice.paid",
		Account: "acct_1",
		Object:  map[string]any{"id": inv["id"], "object": "invoice"},
	})
	var amount int64
	require.NoError(t, w.DB().QueryRow(`SELECT amount_paid FROM paid_invoices WHERE id = $1`, inv["id"]).Scan(&amount))
	fmt.Println(ev.Status, amount)
	// Output:
	// completed done
	// processed 1500
}
