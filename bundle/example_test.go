package bundle_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/updraft-dev/updraft/bundle"
)

func ExampleBuild() {
	src := bundle.Files(map[string][]byte{
		"index.js":     []byte("exports.handler = async () => ({ statusCode: 200 });\n"),
		"lib/greet.js": []byte("module.exports = (n) => `hello ${n}`;\n"),
		"bin/start":    []byte("#!/bin/sh\nexec node index.js\n"),
		".env":         []byte("SECRET=do-not-ship\n"),
	})
	b, err := bundle.Build(context.Background(), src, &bundle.Options{NoCache: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Files, "files,", b.UnzippedSize, "bytes unzipped")
	for _, e := range b.Manifest {
		fmt.Println(e.Mode, e.Name)
	}
	fmt.Println("left out:", b.DefaultExcluded)
	fmt.Println(b.Digest)
	// Output:
	// 3 files, 120 bytes unzipped
	// -rwxr-xr-x bin/start
	// -rw-r--r-- index.js
	// -rw-r--r-- lib/greet.js
	// left out: [.env]
	// sha256:a7714dba5445ab77861276fc3c51b36faf8c305cd09d0675fe93b06248c3775f
}

func ExampleLimitError() {
	src := bundle.Files(map[string][]byte{
		"model.bin": make([]byte, 3<<20),
		"index.js":  []byte("x"),
	})
	_, err := bundle.Build(context.Background(), src, &bundle.Options{NoCache: true,
		Limits: bundle.Limits{Target: "awslambda", MaxUnzippedBytes: 2 << 20}})
	var le *bundle.LimitError
	if errors.As(err, &le) {
		fmt.Println(le.Limit, le.Max, le.Actual)
		fmt.Println(le)
	}
	// Output:
	// unzipped 2097152 3145729
	// bundle is 3 MB unzipped: awslambda allows 2 MB unzipped (over by 1 MB); largest files: model.bin (3 MB), index.js (1 byte)
}
