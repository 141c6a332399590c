package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
)

// rawEntry is one entry written with CreateRaw: whatever its header says.
type rawEntry struct {
	fh   zip.FileHeader
	data []byte // the stored or compressed bytes
}

func writeRawZip(t testing.TB, entries []rawEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range entries {
		w, err := zw.CreateRaw(&entries[i].fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(entries[i].data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "in.zip")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func deflate(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 9)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// entry is a well-formed entry of body, stored or deflated, in the
// headers Build writes.
func entry(t testing.TB, name string, body []byte, method uint16) rawEntry {
	data := body
	if method == zip.Deflate {
		data = deflate(t, body)
	}
	it := &item{name: name, mode: 0o644, size: int64(len(body))}
	fh := header(it, &result{method: method, crc: crc32.ChecksumIEEE(body)}, int64(len(data)))
	return rawEntry{fh: *fh, data: data}
}

func wantCorrupt(t *testing.T, err error, name, reason string) {
	t.Helper()
	var ue *UnsafeError
	if !errors.As(err, &ue) || ue.Path != name || !strings.Contains(ue.Reason, reason) {
		t.Fatalf("error %v; want an *UnsafeError for %s: %s", err, name, reason)
	}
	if strings.Count(err.Error(), "bundle:") != 1 {
		t.Fatalf("error %q repeats its prefix", err)
	}
}

// Corrupt zips are refused, whether an entry is small (read at once) or
// large (streamed), stored or deflated: a wrong CRC-32, an entry holding
// more than it declares, or less.
func TestCorruptZipRefused(t *testing.T) {
	for _, size := range []int{5, bigFile + 5} {
		for _, method := range []uint16{zip.Store, zip.Deflate} {
			body := bytes.Repeat([]byte("hello"), size/5)
			ok := entry(t, "a.txt", []byte("fine"), method)

			bad := entry(t, "data.txt", body, method)
			bad.fh.CRC32 ^= 1
			_, err := Build(context.Background(), Zip(writeRawZip(t, []rawEntry{ok, bad})), &Options{NoCache: true})
			wantCorrupt(t, err, "data.txt", "CRC-32 mismatch")

			// Declares 5 bytes (or size-15), holds 20 more.
			long := entry(t, "data.txt", append(bytes.Clone(body), bytes.Repeat([]byte("x"), 20)...), method)
			long.fh.UncompressedSize64 = uint64(len(body))
			long.fh.CRC32 = crc32.ChecksumIEEE(body)
			_, err = Build(context.Background(), Zip(writeRawZip(t, []rawEntry{ok, long})), &Options{NoCache: true})
			wantCorrupt(t, err, "data.txt", "holds more than its declared size")

			short := entry(t, "data.txt", body, method)
			short.fh.UncompressedSize64 += 20
			_, err = Build(context.Background(), Zip(writeRawZip(t, []rawEntry{ok, short})), &Options{NoCache: true})
			if method == zip.Store {
				// The reader sees the stored size mismatch at once.
				var ue *UnsafeError
				if !errors.As(err, &ue) || ue.Path != "data.txt" {
					t.Fatalf("size %d stored short: error %v", size, err)
				}
			} else {
				wantCorrupt(t, err, "data.txt", "short of its declared size")
			}

			garbage := entry(t, "data.txt", body, zip.Deflate)
			garbage.data = bytes.Repeat([]byte{0xff}, 64)
			garbage.fh.CompressedSize64 = 64
			_, err = Build(context.Background(), Zip(writeRawZip(t, []rawEntry{ok, garbage})), &Options{NoCache: true})
			wantCorrupt(t, err, "data.txt", "corrupt zip entry")
		}
	}
}

// bomb is a real deflate stream of n MiB of zeros, about 1.1 KB per MiB,
// made without compressing n MiB: deflate's output for a flushed MiB of
// zeros is the same every time once the window holds only zeros.
func bomb(t testing.TB, mib int) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 1)
	zeros := make([]byte, 1<<20)
	var chunks [][]byte
	for range 3 {
		w.Write(zeros)
		w.Flush()
		chunks = append(chunks, bytes.Clone(buf.Bytes()))
		buf.Reset()
	}
	w.Close()
	if !bytes.Equal(chunks[1], chunks[2]) {
		t.Skip("this deflate encoder does not repeat itself: cannot build the bomb cheaply")
	}
	out := append(bytes.Clone(chunks[0]), bytes.Repeat(chunks[1], mib-1)...)
	return append(out, buf.Bytes()...)
}

// A zip bomb is refused by the sizes it declares, before inflating.
func TestZipBombRefusedBeforeInflating(t *testing.T) {
	// The construction is sound: 3 MiB of zeros inflate from it.
	n, err := io.Copy(io.Discard, flate.NewReader(bytes.NewReader(bomb(t, 3))))
	if err != nil || n != 3<<20 {
		t.Fatalf("bomb(3) inflates to %d bytes (%v)", n, err)
	}
	data := bomb(t, 1024)
	if len(data) > 2<<20 {
		t.Fatalf("bomb is %d bytes", len(data))
	}
	zeros := crc32.NewIEEE()
	buf := make([]byte, 1<<20)
	for range 1024 {
		zeros.Write(buf)
	}
	e := rawEntry{data: data}
	e.fh = *header(&item{name: "zeros.bin", mode: 0o644, size: 1 << 30}, &result{method: zip.Deflate, crc: zeros.Sum32()}, int64(len(data)))
	limits := Limits{Target: "awslambda", MaxUnzippedBytes: 250 << 20}
	for _, e := range []rawEntry{e, {fh: e.fh, data: bytes.Repeat([]byte{0xff}, len(data))}} {
		// With garbage instead of the deflate stream the error is the
		// same: nothing was inflated.
		_, err := Build(context.Background(), Zip(writeRawZip(t, []rawEntry{e})), &Options{NoCache: true, Limits: limits})
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != LimitUnzipped || le.Actual != 1<<30 || le.Max != 250<<20 {
			t.Fatalf("error %v; want a LimitError of 1 GiB unzipped against 250 MB", err)
		}
	}
	// Declaring less than it holds does not get it past the limit either:
	// reading stops one byte after the declared size.
	e.fh.UncompressedSize64 = 10 << 20
	_, err = Build(context.Background(), Zip(writeRawZip(t, []rawEntry{e})), &Options{NoCache: true, Limits: limits})
	wantCorrupt(t, err, "zeros.bin", "holds more than its declared size")
}

func sha256File(t testing.TB, p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// An existing zip that is already what Build would write for its entries
// (but perhaps compressed differently) is kept as the user's bytes; any
// other zip is re-zipped.
func TestCanonicalZipKeptAsIs(t *testing.T) {
	body := []byte(strings.Repeat("exports.handler = async () => 1;\n", 100))
	run := []byte("#!/bin/sh\nexec node index.js\n")
	runEntry := entry(t, "bin/run", run, zip.Store)
	runEntry.fh.SetMode(0o755)
	// Level 9 and a stored text file: not what Build writes, but canonical.
	entries := []rawEntry{runEntry, entry(t, "index.js", body, zip.Deflate), entry(t, "lib/a.js", body, zip.Store)}
	files := map[string][]byte{"bin/run": run, "index.js": body, "lib/a.js": body}
	rezipped, err := Build(context.Background(), Files(files), &Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	p := writeRawZip(t, entries)
	for _, opts := range []*Options{{NoCache: true}, {CacheDir: t.TempDir()}} {
		b, err := Build(context.Background(), Zip(p), opts)
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256File(t, p); b.Digest != want || b.Digest == rezipped.Digest {
			t.Fatalf("canonical zip: digest %s, want the file's %s (re-zipped would be %s)", b.Digest, want, rezipped.Digest)
		}
		got, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := os.ReadFile(p); !bytes.Equal(got, want) || b.Size != int64(len(want)) {
			t.Fatalf("kept zip bytes differ from the file")
		}
		if b.Files != 3 || b.UnzippedSize != int64(2*len(body)+len(run)) || len(b.Manifest) != 3 ||
			b.Manifest[0].Name != "bin/run" || b.Manifest[0].Mode != 0o755 || b.Manifest[1].SHA256 != rezipped.Manifest[1].SHA256 {
			t.Fatalf("kept zip manifest %+v", b.Manifest)
		}
		// Build's own output is kept too, and it is its own bytes.
		own := filepath.Join(t.TempDir(), "own.zip")
		data, _ := rezipped.Bytes()
		if err := os.WriteFile(own, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := Build(context.Background(), Zip(own), opts); err != nil || b.Digest != rezipped.Digest {
			t.Fatalf("Build's own zip: %v, digest %v", err, b)
		}
	}

	// Not canonical: re-zipped, as a Files source of the same files is.
	mutate := map[string]func([]rawEntry) []rawEntry{
		"unsorted": func(e []rawEntry) []rawEntry { e[0], e[1] = e[1], e[0]; return e },
		"mode 0600": func(e []rawEntry) []rawEntry {
			e[1].fh.SetMode(0o600)
			return e
		},
		"a timestamp": func(e []rawEntry) []rawEntry {
			fh, err := zip.FileInfoHeader(datedInfo{t: time.Date(2020, 5, 6, 7, 8, 10, 0, time.UTC)})
			if err != nil {
				t.Fatal(err)
			}
			old := e[1].fh
			fh.Name, fh.Method, fh.CRC32, fh.CompressedSize64, fh.UncompressedSize64 = old.Name, old.Method, old.CRC32, old.CompressedSize64, old.UncompressedSize64
			fh.CreatorVersion, fh.ReaderVersion = old.CreatorVersion, old.ReaderVersion
			fh.SetMode(0o644)
			e[1].fh = *fh
			return e
		},
		"an extra field": func(e []rawEntry) []rawEntry {
			e[1].fh.Extra = []byte{0x55, 0x54, 5, 0, 1, 0, 0, 0, 0}
			return e
		},
		"a directory entry": func(e []rawEntry) []rawEntry {
			d := entry(t, "lib/", nil, zip.Store)
			d.fh.SetMode(0o755 | os.ModeDir)
			return append(e[:2], d, e[2])
		},
		"a creator version": func(e []rawEntry) []rawEntry { e[2].fh.CreatorVersion = 0x31e; return e },
		"a comment":         func(e []rawEntry) []rawEntry { e[2].fh.Comment = "hi"; return e },
	}
	for what, m := range mutate {
		var es []rawEntry
		for _, e := range entries {
			e.fh.Extra = bytes.Clone(e.fh.Extra)
			es = append(es, e)
		}
		p := writeRawZip(t, m(es))
		b, err := Build(context.Background(), Zip(p), &Options{NoCache: true})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if b.Digest != rezipped.Digest {
			t.Errorf("zip with %s: digest %s, want it re-zipped as %s", what, b.Digest, rezipped.Digest)
		}
	}
	// Bytes after the end, or a default-excluded file, or Form.Extra:
	// re-zipped too.
	data, _ := os.ReadFile(p)
	trailing := filepath.Join(t.TempDir(), "trailing.zip")
	if err := os.WriteFile(trailing, append(bytes.Clone(data), "junk"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := Build(context.Background(), Zip(trailing), &Options{NoCache: true}); err != nil || b.Digest != rezipped.Digest {
		t.Errorf("zip with trailing bytes: %v, %v", err, b)
	}
	withEnv := writeRawZip(t, append(entries[:1:1], entry(t, ".env", []byte("S=1"), zip.Store), entries[1], entries[2]))
	if b, err := Build(context.Background(), Zip(withEnv), &Options{NoCache: true}); err != nil || b.Digest != rezipped.Digest {
		t.Errorf("zip with .env: %v, %v", err, b)
	}
	b, err := Build(context.Background(), Zip(p), &Options{NoCache: true, Form: Form{Extra: map[string][]byte{"host.json": []byte("{}")}}})
	if err != nil || b.Digest == sha256File(t, p) || b.Files != 4 {
		t.Errorf("zip with Form.Extra: %v, %v", err, b)
	}
	// A canonical zip with a corrupt entry is refused, not kept.
	bad := append([]rawEntry(nil), entries...)
	bad[2].fh.CRC32 ^= 1
	_, err = Build(context.Background(), Zip(writeRawZip(t, bad)), &Options{NoCache: true})
	wantCorrupt(t, err, "lib/a.js", "CRC-32 mismatch")
}

// datedInfo is a FileInfo of another modification time than epochInfo's.
type datedInfo struct {
	epochInfo
	t time.Time
}

func (d datedInfo) ModTime() time.Time { return d.t }
