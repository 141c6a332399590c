// Package fnpkg is a portable function for the contract test: an HTTP
// handler that echoes its path and a queue handler that fails messages
// whose body is not "hello".
package fnpkg

import (
	"context"
	"io"
	"net/http"

	"github.com/updraft-dev/updraft/function"
)

func init() {
	function.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "path="+r.URL.Path)
	}))
	function.Queue("jobs", func(ctx context.Context, batch []function.Message) ([]string, error) {
		var failed []string
		for _, m := range batch {
			if string(m.Body) != "hello" {
				failed = append(failed, m.ID)
			}
		}
		return failed, nil
	})
}
