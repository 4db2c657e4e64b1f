// Command bareserver answers POST /api/whoami with the JSON appbackend would, using
// net/http alone and no signature check: the ceiling bench/run.sh compares appbackend's
// throughput with.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3099", "listen address (port 0: any free one)")
	flag.Parse()
	http.HandleFunc("POST /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UserID    string `json:"user_id"`
			AccountID string `json:"account_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"user_id": in.UserID, "account_id": in.AccountID, "roles": []string{}, "payload": nil})
	})
	// Port 0 binds a free port; the line gives the bound address, so that the bench
	// never picks a port for it that another process could take first.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bareserver listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
