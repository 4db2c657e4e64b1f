// Command appbackend is the self-hosted backend for Stripe Apps: `appbackend serve`
// runs it; the other subcommands sign requests, post test events and read the database.
package main

import "github.com/appbackend/appbackend/cli"

func main() { cli.Main() }
