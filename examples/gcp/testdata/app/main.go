// Command app is the function the lockstep test rolls out to three
// targets: an HTTP server on $PORT (Cloud Run style), which the local
// provider runs for real; the cloud fakes do not run code.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("V") == "bad" {
			http.Error(w, "broken build", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"v":%q}`, os.Getenv("V"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
