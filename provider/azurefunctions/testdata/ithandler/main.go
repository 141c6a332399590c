// Command ithandler is a minimal Azure Functions custom handler for the
// integration test: it answers every forwarded HTTP request and every
// event invocation with success.
package main

import (
	"io"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-Azure-Functions-InvocationId") != "" && r.Method == http.MethodPost && len(body) > 0 && body[0] == '{' {
			io.WriteString(w, `{"Outputs":{},"Logs":[],"ReturnValue":null}`)
			return
		}
		w.Write(body)
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, nil); err != nil {
		os.Exit(1)
	}
}
