package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/cli"
)

// An app's binary is cli.Main with its migrations and registrations: serve, migrate,
// doctor, events, jobs, schedules, installations, backup, restore and version, as in
// the stock binary. App.Run is Main without the process, for tests: here it migrates
// a new SQLite database (appbackend's tables, then the app's notes table) and answers
// a mistyped flag with the stock binary's one line and exit status 2.
func ExampleApp_Run() {
	app := cli.App{
		// Typically an embed.FS of the app's migrations folder.
		Migrations: fstest.MapFS{
			"0001_notes.sql": {Data: []byte(`CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)`)},
		},
		// Only serve runs it, on the App it built from the configuration.
		Setup: func(app *appbackend.App, getenv func(string) string) error {
			app.HandleFunc("GET /api/notes", func(w http.ResponseWriter, r *http.Request) {
				appbackend.WriteJSON(w, http.StatusOK, map[string]any{"notes": []string{}})
			})
			return nil
		},
	}
	// func main() { cli.Main(app) } is the whole program.

	dir, err := os.MkdirTemp("", "cli-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	env := map[string]string{"APPBACKEND_DATABASE": "sqlite:" + filepath.Join(dir, "notes.db")}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	code := app.Run(ctx, []string{"migrate"}, getenv, os.Stdout, os.Stdout)
	fmt.Println("exit", code)
	code = app.Run(ctx, []string{"jobs", "--stat", "failed"}, getenv, os.Stdout, os.Stdout)
	fmt.Println("exit", code)
	// Output:
	// database is up to date
	// exit 0
	// appbackend jobs: flag provided but not defined: -stat
	// exit 2
}

// The stock binary, cmd/appbackend, is the zero App.
func ExampleMain() {
	cli.Main(cli.App{})
}
