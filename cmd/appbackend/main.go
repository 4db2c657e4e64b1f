// Command appbackend is the self-hosted backend for Stripe Apps: `appbackend serve`
// runs it; the other subcommands sign requests, post test events and read the database.
// It is package cli with no app of its own: an app built on appbackend gets the same
// command line from cli.Main with its migrations and registrations.
package main

import "github.com/appbackend/appbackend/cli"

func main() { cli.Main(cli.App{}) }
