// Command function is the Azure Functions custom handler examples/azure
// deploys: a Go binary named "handler" that listens on
// FUNCTIONS_CUSTOMHANDLER_PORT. The adapter generates host.json (with
// enableForwardingHttpRequest) and web/function.json, so the host forwards
// each HTTP request here at its own path.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		port = "8080" // run it locally with PORT semantics
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "world"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"message": os.Getenv("GREETING") + ", " + name, "function": os.Getenv("UPDRAFT_FUNCTION")})
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
