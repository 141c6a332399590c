// Package hello is the function examples/azure deploys: a portable Go
// package that registers its HTTP handler with updraft's function package.
// The bundler (bundle.GoFunction) writes the main around it and builds it
// as the custom handler binary "handler"; the adapter generates host.json
// and web/function.json, so the Azure host forwards each HTTP request to
// it at its own path.
package hello

import (
	"encoding/json"
	"net/http"
	"os"

	"github.com/updraft-dev/updraft/function"
)

func init() {
	function.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "world"
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"message": os.Getenv("GREETING") + ", " + name, "function": os.Getenv("UPDRAFT_FUNCTION")})
	}))
}
