package provider_test

import (
	"reflect"
	"testing"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
	"github.com/updraft-dev/updraft/trigger"
)

// A driver without GetScoped is read with Get: Read returns what Get
// does, and LiveRevision knows nothing.
func TestReadFallsBackToGet(t *testing.T) {
	ctx := t.Context()
	fn, err := memprovider.NewCloud(nil).OpenFunction(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{Code: bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 1\n")}), Runtime: "nodejs22", Entrypoint: "index.handler", Triggers: []trigger.Trigger{trigger.HTTP{Key: "web"}}}
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	got, err := fn.Read(ctx, &provider.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := fn.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read = %+v, Get = %+v", got, want)
	}
	if id := fn.LiveRevision(got, ""); id != "" {
		t.Errorf("LiveRevision on a driver that cannot tell: %q", id)
	}
	if _, err := fn.Read(ctx, &provider.ReadOptions{Route: "Bad Route"}); provider.Code(err) != provider.InvalidArgument {
		t.Errorf("Read of a bad route: %v", err)
	}
	if o := provider.ReadOptionsFor(spec); *o != (provider.ReadOptions{Route: provider.DefaultRoute, Triggers: true}) {
		t.Errorf("ReadOptionsFor = %+v", *o)
	}
}
