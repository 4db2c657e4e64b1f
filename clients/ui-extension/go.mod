// Not Go: this file only makes clients/ui-extension a module of its own, so that the
// repository's `go test ./...` and `go vet ./...` never walk into node_modules (some npm
// packages ship .go files).
module github.com/appbackend/appbackend/clients/ui-extension

go 1.26
