package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
)

const (
	// level is the deflate level; part of the output format (and so of
	// the cache key through formatVersion).
	level = 6
	// bigFile is the size from which a file is streamed through a spill
	// file instead of being held in memory.
	bigFile = 4 << 20
	// windowBytes bounds the bytes held by in-flight files; windowFiles
	// bounds their number. Together they bound memory whatever the tree.
	windowBytes = 24 << 20
	windowFiles = 512
)

// formatVersion changes whenever the bytes Build writes for the same
// content change (compressor, level, header layout). ExampleBuild pins a
// digest, so a change of output (a new klauspost/compress release, say)
// fails a test instead of passing unnoticed: bump formatVersion with it.
const formatVersion = "updraft-zip-1/klauspost-flate-6"

// item is one file to package, with its contents in exactly one of path,
// data or zf.
type item struct {
	name string      // zip entry name
	mode fs.FileMode // 0644 or 0755
	size int64
	path string    // a file on disk
	data []byte    // in-memory contents
	zf   *zip.File // an entry of an existing zip
	st   fileStat  // stat of path, for the cache fast path
}

// fileStat is what the cache fast path compares to decide a file is
// unchanged without reading it.
type fileStat struct {
	Size    int64  `json:"s"`
	MtimeNs int64  `json:"m"`
	CtimeNs int64  `json:"c"`
	Ino     uint64 `json:"i"`
	dev     uint64 // device, checked on open with Ino; not in the cache record
}

// same compares what the cache records of a stat.
func (s fileStat) same(o fileStat) bool {
	return s.Size == o.Size && s.MtimeNs == o.MtimeNs && s.CtimeNs == o.CtimeNs && s.Ino == o.Ino
}

func (it *item) open() (io.ReadCloser, error) {
	switch {
	case it.data != nil:
		return io.NopCloser(bytes.NewReader(it.data)), nil
	case it.zf != nil:
		return openZipEntry(it)
	case it.path != "":
		return openScanned(it)
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// openScanned opens the file of a path item and checks it is still the
// file the scan saw: a regular file (not a symlink or fifo swapped in
// since), with the same device, inode and size.
func openScanned(it *item) (*os.File, error) {
	f, err := os.OpenFile(it.path, openFlags, 0)
	if err != nil {
		if isSymlinkErr(err) {
			return nil, &UnsafeError{Path: it.name, Reason: "replaced by a symlink while it was being bundled"}
		}
		return nil, fmt.Errorf("bundle: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bundle: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, &UnsafeError{Path: it.name, Reason: "replaced by a " + describeType(fi.Mode().Type()) + " while it was being bundled"}
	case fi.Size() != it.size || !sameFile(fi, it.st):
		f.Close()
		return nil, it.changed()
	}
	return f, nil
}

// errChanged is wrapped by the error for a file whose contents no longer
// match its stat.
var errChanged = errors.New("changed while it was being bundled")

func (it *item) changed() error {
	return fmt.Errorf("bundle: %s %w", it.name, errChanged)
}

// readErr is the error for a failed read of it, naming it once.
func readErr(it *item, err error) error {
	var ue *UnsafeError
	if errors.As(err, &ue) || errors.Is(err, errChanged) {
		return err
	}
	return fmt.Errorf("bundle: reading %s: %w", it.name, err)
}

// storedExt are extensions of formats that are already compressed:
// deflating them costs time and gains nothing.
var storedExt = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".avif": true,
	".heic": true, ".gz": true, ".tgz": true, ".zip": true, ".jar": true,
	".war": true, ".whl": true, ".bz2": true, ".xz": true, ".zst": true, ".br": true,
	".7z": true, ".rar": true, ".lz4": true, ".mp3": true, ".mp4": true, ".m4a": true,
	".ogg": true, ".webm": true, ".woff": true, ".woff2": true, ".apk": true,
}

func compressible(name string) bool {
	return !storedExt[strings.ToLower(path.Ext(name))]
}

// Buffer pool by power-of-two size class, 4 KiB to bigFile.
const minClass, maxClass = 12, 22

var bufPools [maxClass + 1]sync.Pool

func getBuf(n int) []byte {
	c := bits.Len(uint(n - 1))
	if n <= 0 {
		c = 0
	}
	if c < minClass {
		c = minClass
	}
	if c > maxClass {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

func putBuf(b []byte) {
	c := cap(b)
	if c == 0 || c&(c-1) != 0 {
		return
	}
	k := bits.Len(uint(c)) - 1
	if k < minClass || k > maxClass {
		return
	}
	b = b[:0]
	bufPools[k].Put(&b)
}

var flatePool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(io.Discard, level)
	return w
}}

// sliceWriter appends to a pooled byte slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > cap(w.b) {
		nb := getBuf(max(2*cap(w.b), len(w.b)+len(p)))
		copy(nb, w.b)
		putBuf(w.b)
		w.b = nb[:len(w.b)]
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// result is a compressed file ready to be written.
type result struct {
	method  uint16
	crc     uint32
	sha     [32]byte
	payload []byte   // the entry's bytes (compressed or stored), pooled
	owned   bool     // payload is pooled and must be returned
	spill   *os.File // big deflated file, or nil
	spillN  int64
	reread  bool // big stored file: the writer copies it from the source
	err     error
}

// window bounds the files and bytes in flight between dispatch and write.
type window struct {
	mu     sync.Mutex
	cond   sync.Cond
	files  int
	bytes  int64
	closed bool
}

func (w *window) acquire(n int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.closed && w.files > 0 && (w.files >= windowFiles || w.bytes+n > windowBytes) {
		w.cond.Wait()
	}
	if w.closed {
		return false
	}
	w.files++
	w.bytes += n
	return true
}

func (w *window) release(n int64) {
	w.mu.Lock()
	w.files--
	w.bytes -= n
	w.mu.Unlock()
	w.cond.Signal()
}

func (w *window) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cond.Broadcast()
}

func cost(it *item) int64 {
	if it.data != nil {
		return 0 // already in memory; its compressed copy is bounded by windowFiles
	}
	return min(it.size, bigFile)
}

// writeZip compresses items (sorted by name) in parallel and writes them
// in order to out as a reproducible zip. It returns the manifest.
func writeZip(ctx context.Context, items []item, out io.Writer, spillDir *tempDir) ([]Entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := max(1, runtime.GOMAXPROCS(0))
	win := &window{}
	win.cond.L = &win.mu
	slots := make([]chan *result, windowFiles)
	for i := range slots {
		slots[i] = make(chan *result, 1)
	}
	type job struct{ i int }
	jobs := make(chan job, workers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // dispatcher: in order, within the window
		defer wg.Done()
		defer close(jobs)
		for i := range items {
			if !win.acquire(cost(&items[i])) {
				return
			}
			select {
			case jobs <- job{i}:
			case <-ctx.Done():
				win.release(cost(&items[i]))
				return
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var r *result
				if err := ctx.Err(); err != nil {
					r = &result{err: err}
				} else {
					r = compressItem(&items[j.i], spillDir)
				}
				slots[j.i%windowFiles] <- r
			}
		}()
	}
	// Stop the pipeline and free what is still in flight on any return.
	defer func() {
		cancel()
		win.close()
		wg.Wait()
		for _, s := range slots {
			select {
			case r := <-s:
				r.free()
			default:
			}
		}
	}()

	zw := zip.NewWriter(out)
	manifest := make([]Entry, 0, len(items))
	for i := range items {
		it := &items[i]
		var r *result
		select {
		case r = <-slots[i%windowFiles]:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		err := r.err
		if err == nil {
			err = writeEntry(zw, it, r)
		}
		r.free()
		win.release(cost(it))
		if err != nil {
			return nil, err
		}
		manifest = append(manifest, Entry{Name: it.name, Size: it.size, Mode: it.mode, SHA256: hex.EncodeToString(r.sha[:])})
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return manifest, nil
}

func (r *result) free() {
	if r.owned {
		putBuf(r.payload)
		r.payload, r.owned = nil, false
	}
	if r.spill != nil {
		r.spill.Close()
		os.Remove(r.spill.Name())
		r.spill = nil
	}
}

func header(it *item, r *result, compressed int64) *zip.FileHeader {
	fh := epochHeader()
	fh.Name = it.name
	fh.Method = r.method
	fh.CRC32 = r.crc
	fh.CompressedSize64 = uint64(compressed)
	fh.UncompressedSize64 = uint64(it.size)
	fh.CreatorVersion = 20
	fh.ReaderVersion = 20
	if it.size >= 1<<32-1 || compressed >= 1<<32-1 {
		fh.ReaderVersion = 45
	}
	if !isASCII(it.name) && utf8.ValidString(it.name) {
		fh.Flags |= 0x800
	}
	fh.SetMode(it.mode)
	return &fh
}

// epochHeader is a header whose MS-DOS modification date and time are
// 1980-01-01 00:00, the earliest the format has: zip.FileInfoHeader sets
// them from the FileInfo's ModTime. (Writer.CreateRaw writes those two
// fields and ignores FileHeader.Modified; setting the date fields directly
// is deprecated, and CreateHeader would add an extended timestamp field.)
var epochHeader = sync.OnceValue(func() zip.FileHeader {
	fh, err := zip.FileInfoHeader(epochInfo{})
	if err != nil {
		panic(err) // FileInfoHeader fails for no regular file
	}
	return *fh
})

type epochInfo struct{}

func (epochInfo) Name() string       { return "" }
func (epochInfo) Size() int64        { return 0 }
func (epochInfo) Mode() fs.FileMode  { return 0o644 }
func (epochInfo) ModTime() time.Time { return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) }
func (epochInfo) IsDir() bool        { return false }
func (epochInfo) Sys() any           { return nil }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func writeEntry(zw *zip.Writer, it *item, r *result) error {
	switch {
	case r.spill != nil:
		w, err := zw.CreateRaw(header(it, r, r.spillN))
		if err != nil {
			return err
		}
		if _, err := r.spill.Seek(0, io.SeekStart); err != nil {
			return err
		}
		n, err := io.Copy(w, r.spill)
		if err == nil && n != r.spillN {
			err = fmt.Errorf("bundle: spill file of %s is short", it.name)
		}
		return err
	case r.reread:
		w, err := zw.CreateRaw(header(it, r, it.size))
		if err != nil {
			return err
		}
		f, err := it.open()
		if err != nil {
			return err
		}
		defer f.Close()
		c := crc32.NewIEEE()
		n, err := io.Copy(io.MultiWriter(w, c), io.LimitReader(f, it.size))
		if err != nil {
			return err
		}
		if n != it.size || c.Sum32() != r.crc {
			return it.changed()
		}
		return nil
	default:
		w, err := zw.CreateRaw(header(it, r, int64(len(r.payload))))
		if err != nil {
			return err
		}
		_, err = w.Write(r.payload)
		return err
	}
}

// compressItem reads, hashes and compresses one file.
func compressItem(it *item, spillDir *tempDir) *result {
	if it.data == nil && it.size > bigFile {
		return compressBig(it, spillDir)
	}
	r := &result{}
	raw := it.data
	if raw == nil {
		f, err := it.open()
		if err != nil {
			return &result{err: err}
		}
		raw = getBuf(int(it.size))
		_, err = io.ReadFull(f, raw)
		if err == nil {
			err = atEOF(f, it)
		} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = it.changed()
		}
		f.Close()
		if err != nil {
			putBuf(raw)
			return &result{err: readErr(it, err)}
		}
		r.owned = true
	}
	r.sha = sha256.Sum256(raw)
	r.crc = crc32.ChecksumIEEE(raw)
	r.method = zip.Store
	r.payload = raw
	if len(raw) == 0 || !compressible(it.name) {
		return r
	}
	sw := &sliceWriter{b: getBuf(len(raw)/2 + 64)[:0]}
	fw := flatePool.Get().(*flate.Writer)
	fw.Reset(sw)
	fw.Write(raw) // sliceWriter never fails
	fw.Close()
	flatePool.Put(fw)
	if len(sw.b) >= len(raw) {
		putBuf(sw.b) // deflate does not help: store
		return r
	}
	if r.owned {
		putBuf(raw)
	}
	r.method, r.payload, r.owned = zip.Deflate, sw.b, true
	return r
}

// atEOF checks that f, which gave it.size bytes, has no more (a zip
// entry's reader checks its CRC-32 there).
func atEOF(f io.Reader, it *item) error {
	var one [1]byte
	for {
		n, err := f.Read(one[:])
		switch {
		case n > 0:
			return it.changed()
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// compressBig streams a large file: hashed, and deflated into a spill file
// unless its format is already compressed, in which case the writer copies
// it from the source again.
func compressBig(it *item, spillDir *tempDir) *result {
	f, err := it.open()
	if err != nil {
		return &result{err: err}
	}
	defer f.Close()
	h, c := sha256.New(), crc32.NewIEEE()
	r := &result{method: zip.Store, reread: true}
	src := io.TeeReader(io.LimitReader(f, it.size+1), io.MultiWriter(h, c))
	var n int64
	if !compressible(it.name) {
		n, err = io.Copy(io.Discard, src)
	} else {
		dir, err2 := spillDir.get()
		if err2 != nil {
			return &result{err: err2}
		}
		spill, err2 := os.CreateTemp(dir, "spill-*")
		if err2 != nil {
			return &result{err: fmt.Errorf("bundle: %w", err2)}
		}
		cw := &countWriter{w: spill}
		fw := flatePool.Get().(*flate.Writer)
		fw.Reset(cw)
		n, err = io.Copy(fw, src)
		if err == nil {
			err = fw.Close()
		}
		flatePool.Put(fw)
		if err == nil && cw.n < it.size {
			r.method, r.reread, r.spill, r.spillN = zip.Deflate, false, spill, cw.n
		} else {
			spill.Close()
			os.Remove(spill.Name())
		}
	}
	if err == nil && n != it.size {
		err = it.changed()
	}
	if err != nil {
		r.free()
		return &result{err: readErr(it, err)}
	}
	h.Sum(r.sha[:0])
	r.crc = c.Sum32()
	return r
}

type countWriter struct {
	w io.Writer
	n int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}
