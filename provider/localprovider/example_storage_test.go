package localprovider_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

// Example_storage deploys a function with a storage trigger and drops
// files into its bucket, a directory: the function gets an S3 event for
// the file its trigger's suffix selects.
func Example_storage() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "updraft-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	h, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	fn, err := h.OpenFunction(ctx, "thumbs")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{
		Code:    bundle.GoSource("testdata/thumbs"),
		Runtime: "go",
		Triggers: []trigger.Trigger{
			trigger.Storage{Key: "uploads", Bucket: "arn:aws:s3:::photos", Suffix: ".jpg"},
		},
	}
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		log.Fatal(err)
	}

	bucket, err := h.BucketDir("photos") // DIR/buckets/photos
	if err != nil {
		log.Fatal(err)
	}
	// A file becomes an object once it has not changed for 100 ms; one
	// written under a hidden name (ignored) and renamed into place
	// appears whole at once, however slowly it is written.
	for name, content := range map[string]string{"cat.jpg": "meow", "notes.txt": "not a photo"} {
		tmp := filepath.Join(bucket, "."+name)
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(bucket, name)); err != nil {
			log.Fatal(err)
		}
	}

	// The function prints what it gets to its log.
	out := filepath.Join(dir, "functions", "thumbs", "function.log")
	for deadline := time.Now().Add(time.Minute); ; {
		st, err := h.StorageStats(ctx, "photos")
		if err != nil {
			log.Fatal(err)
		}
		c, _ := st.Consumer("thumbs", "uploads")
		b, _ := os.ReadFile(out)
		if st.Objects == 2 && c.Delivered == 1 && strings.HasSuffix(string(b), "\n") {
			fmt.Print(string(b))
			fmt.Printf("%d objects; %d event delivered\n", st.Objects, c.Delivered)
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("no event delivered: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Output:
	// created photos/cat.jpg: 4 bytes, ETag 4a4be40c96ac6314e91d93f38043a634
	// 2 objects; 1 event delivered
}
