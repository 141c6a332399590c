package service_test

import (
	"context"
	"fmt"
	"log"
	"net/url"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
	"github.com/updraft-dev/updraft/service"
)

// A spec file with two functions, planned and applied together on mem://.
func Example() {
	ctx := context.Background()
	file := []byte(`
version: 1
functions:
  site:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {GREETING: hello}
    targets: [{url: "mem://example-site"}]
  admin:
    code: {dir: testdata/site}
    runtime: nodejs22
    memory: 512
    targets: [{url: "mem://example-admin"}]
`)
	svc, err := service.Parse("updraft.yaml", ".", file, nil)
	if err != nil {
		log.Fatal(err)
	}
	// A cloud of the example's own (mem:// URLs use the process's default).
	cloud := memprovider.NewCloud(nil)
	ss, err := svc.Open(ctx, &service.OpenOptions{Open: func(ctx context.Context, target string) (*provider.Function, error) {
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		return cloud.OpenFunction(ctx, u.Host)
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer ss.Close()
	p, err := ss.Plan(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changes before:", p.HasChanges())
	res, err := ss.Apply(ctx, p, &deploy.ApplyOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range res {
		fmt.Printf("%s: revision %s\n", f.Function, f.Result.Targets[0].Revision)
	}
	p, err = ss.Plan(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("changes after:", p.HasChanges())
	// Output:
	// changes before: true
	// admin: revision 1
	// site: revision 1
	// changes after: false
}

// Every problem in a spec file, with its position.
func ExampleParse_errors() {
	_, err := service.Parse("updraft.yaml", ".", []byte(`version: 1
functions:
  web:
    code: {dir: ./web}
    runtime: nodejs22
    timeout: 10 seconds
    env: {DB_PASSWORD: hunter2}
    targets: [{url: "mem://web"}]
`), nil)
	fmt.Println(err)
	// Output:
	// updraft.yaml:6:14: functions.web.timeout: duration "10 seconds": write a number with a unit, such as 10s, 5m or 1h30m
	// updraft.yaml:7:24: functions.web.env.DB_PASSWORD: DB_PASSWORD looks like a secret: never put secret values in the spec file; move it to secrets: with a reference (a Secrets Manager ARN, a Secret Manager version, a Key Vault URI)
}
