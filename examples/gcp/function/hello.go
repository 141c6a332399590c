// Package hello is the function examples/gcp deploys: an HTTP function
// for Cloud Functions' Go runtime, whose build wraps the exported
// Updraft function in the Functions Framework (the entry point the
// gcpfunctions adapter sets for Go). It is its own module, as a Cloud
// Functions source must be.
package hello

import (
	"encoding/json"
	"net/http"
	"os"
)

// Updraft answers every request with a greeting and the revision.
func Updraft(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"message": os.Getenv("GREETING") + ", gopher", "revision": os.Getenv("K_REVISION")})
}
