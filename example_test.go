package updraft_test

import (
	"context"
	"fmt"
	"log"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	_ "github.com/updraft-dev/updraft/provider/memprovider" // registers mem://
	"github.com/updraft-dev/updraft/trigger"
)

// One spec, deployed to two targets at once; the second apply is a no-op.
func Example() {
	ctx := context.Background()
	fns, err := provider.OpenAll(ctx, "mem://hello-eu", "mem://hello-us")
	if err != nil {
		log.Fatal(err)
	}
	spec := &provider.Spec{
		Code:    bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 'hello'\n")}),
		Runtime: "nodejs22", Entrypoint: "index.handler", MemoryMB: 256,
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}
	for range 2 {
		res, err := deploy.Apply(ctx, fns, spec, nil)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range res.Targets {
			fmt.Printf("%s: revision %s, created %v, unchanged %v, uploaded code %v\n", t.Target, t.Revision, t.Created, t.Unchanged, t.UploadedBytes > 0)
		}
	}
	// Output:
	// mem://hello-eu: revision 1, created true, unchanged false, uploaded code true
	// mem://hello-us: revision 1, created true, unchanged false, uploaded code true
	// mem://hello-eu: revision 1, created false, unchanged true, uploaded code false
	// mem://hello-us: revision 1, created false, unchanged true, uploaded code false
}
