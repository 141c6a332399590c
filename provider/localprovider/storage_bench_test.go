package localprovider

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/trigger"
)

// BenchmarkStorageEvent measures the latency from a file renamed into a
// bucket to its event delivered (the function's answer recorded), one
// file at a time: the 100 ms quiet period, the 25 ms settling tick and
// the invocation. Run it with a small count:
//
//	go test -run '^$' -bench StorageEvent -benchtime 20x ./provider/localprovider/
func BenchmarkStorageEvent(b *testing.B) {
	dir := b.TempDir()
	h := newHost(b, &Options{Dir: dir})
	bdir, err := h.BucketDir("bench")
	if err != nil {
		b.Fatal(err)
	}
	deploy(b, h, "bench", consumerSpec(filepath.Join(dir, "events.log"), false, trigger.Storage{Key: "uploads", Bucket: "bench"}))
	ctx := context.Background()
	var ds []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		writeObject(b, bdir, fmt.Sprintf("f%d", i), "x")
		for {
			st, err := h.StorageStats(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if c, ok := st.Consumer("bench", "uploads"); ok && c.Delivered == int64(i+1) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, ds)
}
