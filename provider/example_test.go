package provider_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	_ "github.com/updraft-dev/updraft/provider/memprovider" // registers mem://
)

func Example() {
	ctx := context.Background()
	fn, err := provider.Open(ctx, "mem://hello")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()

	spec := &provider.Spec{
		Code:    bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 'hi'\n")}),
		Runtime: "nodejs22", Entrypoint: "index.handler", MemoryMB: 256,
		Env: map[string]string{"GREETING": "hello"},
	}
	res, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Created, "revision:", res.Revision.ID)

	// The same spec again changes nothing and uploads nothing.
	res, err = fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changed:", res.Changed, "uploaded:", res.UploadedBytes)

	st, err := fn.Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("live route:", st.Routes["live"].Traffic.Stable, "memory:", st.Config.MemoryMB)
	// Output:
	// created: true revision: 1
	// changed: false uploaded: 0
	// live route: 1 memory: 256
}

func ExampleCode() {
	ctx := context.Background()
	fn, err := provider.Open(ctx, "mem://never-deployed")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	_, err = fn.Get(ctx)
	fmt.Println(provider.Code(err), errors.Is(err, provider.ErrNotFound))
	// Output: NotFound true
}

func ExampleValidate() {
	caps := provider.Capabilities{Provider: "awslambda", Memory: provider.Range{Min: 128, Max: 10240, Step: 1}}
	err := provider.Validate(&provider.Spec{Runtime: "go", MemoryMB: 20000}, caps)
	var ve *provider.ValidationError
	if errors.As(err, &ve) {
		for _, v := range ve.Violations {
			fmt.Println(v.Field+":", v.Message)
		}
	}
	// Output: MemoryMB: memory 20000 MB: awslambda allows 128–10240 MB in 1 MB steps
}

// RedactURL hides the credentials of a URL wherever one is printed.
func ExampleRedactURL() {
	fmt.Println(provider.RedactURL("mem://admin:S3cret@fn%zz"))
	fmt.Println(provider.RedactURL("awslambda://hello?region=eu-west-1&token=abc"))
	// Output:
	// mem://[redacted]@fn%zz
	// awslambda://hello?region=eu-west-1&token=[redacted]
}
