package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Build builds src into a reproducible zip in the Form opts asks for,
// checks it against opts.Limits and returns it. A nil opts means the
// defaults: no Go build (a Go source is zipped as source), linux/amd64,
// no limits, and the cache in the user's cache directory.
//
// The same files give the same bytes (and Digest) whatever their mtimes,
// location or order on disk. When the bundle exceeds a limit, Build
// returns the bundle together with an error wrapping *LimitError, so a
// caller can still choose another upload path. Unsafe input (path
// traversal, a symlink leaving the root, a special file) fails with an
// error wrapping *UnsafeError that names the path.
func Build(ctx context.Context, src Source, opts *Options) (*Bundle, error) {
	if opts == nil {
		opts = &Options{}
	}
	b, err := build(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	if err := checkLimits(b, opts.Limits); err != nil {
		return b, fmt.Errorf("bundle %s: %w", b.Digest, err)
	}
	return b, nil
}

// Bytes returns the zip bytes: the in-memory zip of a NoCache bundle
// (shared, not to be modified), or the file at Path read into memory.
func (b *Bundle) Bytes() ([]byte, error) {
	if b.Path == "" {
		if b.data == nil {
			return nil, errors.New("bundle: bundle has no zip data")
		}
		return b.data, nil
	}
	return os.ReadFile(b.Path)
}

func (b *Bundle) open() (io.ReadCloser, error) {
	if b.Path == "" {
		if b.data == nil {
			return nil, errors.New("bundle: bundle has no zip data")
		}
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	return os.Open(b.Path)
}

// normForm fills the Form's defaults.
func normForm(f Form) Form {
	if f.GOOS == "" {
		f.GOOS = "linux"
	}
	if f.GOARCH == "" {
		f.GOARCH = "amd64"
	}
	if f.Binary == "" {
		f.Binary = "bootstrap"
	}
	return f
}

func build(ctx context.Context, src Source, opts *Options) (*Bundle, error) {
	if err := opts.Form.Validate(); err != nil {
		return nil, err
	}
	form := normForm(opts.Form)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := openBuildCache(opts, log)
	tmp := &tempDir{}
	if c != nil {
		tmp.base = c.tmp()
	}
	defer tmp.remove()
	t, zin, recKey, err := sourceTree(ctx, src, form, opts.Limits, tmp)
	if zin != nil {
		defer zin.Close()
	}
	if err != nil {
		return nil, err
	}
	if err := t.finish(form.Extra); err != nil {
		return nil, err
	}
	for _, p := range t.excluded {
		log.Debug("bundle: excluded by default rule", "path", p)
	}
	var statKey string
	if c != nil {
		var b *Bundle
		if b, statKey, err = lookupCache(ctx, c, t, recKey, log); b != nil || err != nil {
			return b, err
		}
	}
	if zin != nil && len(t.excluded) == 0 && len(form.Extra) == 0 {
		if b, err := keepZipBundle(ctx, zin, t, c, tmp); b != nil || err != nil {
			if b != nil {
				log.Debug("bundle: existing zip kept as it is", "digest", b.Digest)
			}
			return b, err
		}
	}
	b, err := writeBundle(ctx, t, c, tmp, recKey, statKey)
	if err != nil {
		return nil, err
	}
	log.Debug("bundle: built", "digest", b.Digest, "files", b.Files, "size", b.Size)
	return b, nil
}

// openBuildCache opens the cache opts ask for; nil when they ask for none
// or it cannot be opened (it only saves time: build in memory instead).
func openBuildCache(opts *Options, log *slog.Logger) *cache {
	if opts.NoCache {
		return nil
	}
	c, err := openCache(opts.CacheDir, opts.CacheMaxBytes)
	if err != nil {
		log.Warn("bundle: building without cache", "err", err)
		return nil
	}
	return c
}

// lookupCache returns the cached bundle of t, if any: by the stat record
// of a directory source (recKey), else by contents when hashing them is
// cheap. It also returns t's stat key, for writeBundle to record.
func lookupCache(ctx context.Context, c *cache, t *tree, recKey string, log *slog.Logger) (*Bundle, string, error) {
	var rec *statRecord
	var statKey string
	if recKey != "" {
		statKey = t.statKey()
		rec = c.loadStat(recKey)
		if rec != nil && rec.StatKey == statKey {
			if b := c.load(rec.ContentKey); b != nil {
				log.Debug("bundle: cache hit (unchanged stat)", "digest", b.Digest)
				return b, statKey, nil
			}
		}
	}
	// Look the contents up when hashing them is cheap: in memory, a
	// single binary, or a tree seen before whose unchanged files need
	// no reading.
	if !t.cheapToHash() && rec == nil {
		return nil, statKey, nil
	}
	entries, err := t.hashAll(ctx, rec)
	if err != nil {
		return nil, "", err
	}
	key := contentKey(entries, t.excluded)
	b := c.load(key)
	if b != nil {
		log.Debug("bundle: cache hit (same contents)", "digest", b.Digest)
		if recKey != "" {
			c.saveStat(recKey, t, statKey, key, entries)
		}
	}
	return b, statKey, nil
}

// writeBundle zips t: in memory without a cache c, else into the cache,
// recording its metadata and (for a directory source) its stat record.
func writeBundle(ctx context.Context, t *tree, c *cache, tmp *tempDir, recKey, statKey string) (*Bundle, error) {
	b := &Bundle{Files: len(t.items), DefaultExcluded: t.excluded}
	for i := range t.items {
		b.UnzippedSize += t.items[i].size
	}
	h := sha256.New()
	var err error
	if c == nil {
		var buf bytes.Buffer
		if b.Manifest, err = writeZip(ctx, t.items, io.MultiWriter(&buf, h), tmp); err != nil {
			return nil, err
		}
		b.data = buf.Bytes()
		b.Size = int64(buf.Len())
		b.Digest = digestOf(h)
		return b, nil
	}
	f, err := os.CreateTemp(c.tmp(), "zip-")
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer os.Remove(f.Name())
	crc := crc32.New(castagnoli)
	b.Manifest, b.Size, err = writeZipFile(ctx, t.items, f, io.MultiWriter(h, crc), tmp)
	if err != nil {
		return nil, err
	}
	b.Digest = digestOf(h)
	if b.Path, err = c.storeZip(f.Name(), b.Digest); err != nil {
		return nil, err
	}
	key := contentKey(b.Manifest, t.excluded)
	c.saveMeta(key, b, crc.Sum32())
	if recKey != "" {
		c.saveStat(recKey, t, statKey, key, b.Manifest)
	}
	return b, nil
}

// sourceTree lists what src contributes, for the form: its tree, the
// opened zip of a KindZip source (closed by the caller), and the key of
// the cache's stat record of a directory source ("" for other kinds).
func sourceTree(ctx context.Context, src Source, form Form, limits Limits, tmp *tempDir) (t *tree, zin *zipInput, recKey string, err error) {
	switch src.kind {
	case KindNone:
		return nil, nil, "", errors.New("bundle: empty Source (no code)")
	case KindFiles:
		t, err = filesTree(src.files)
		return t, nil, "", err
	case KindDir:
		dir, err := sourceDir("source directory", src.path)
		if err != nil {
			return nil, nil, "", err
		}
		t, err = walkDir(ctx, dir)
		return t, nil, statRecordKey(dir, form), err
	case KindGo:
		pkgDir, err := sourceDir("Go source", src.path)
		if err != nil {
			return nil, nil, "", err
		}
		if !form.GoBuild {
			root, err := goModuleRoot(pkgDir)
			if err != nil {
				return nil, nil, "", fmt.Errorf("bundle: %w", err)
			}
			t, err = walkDir(ctx, root)
			return t, nil, statRecordKey(root, form), err
		}
		dir, err := tmp.get()
		if err != nil {
			return nil, nil, "", err
		}
		bin, err := goBuild(ctx, pkgDir, form, dir)
		if err != nil {
			return nil, nil, "", err
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return nil, nil, "", fmt.Errorf("bundle: %w", err)
		}
		return &tree{items: []item{{name: form.Binary, mode: 0o755, size: fi.Size(), path: bin, st: statOf(fi)}}}, nil, "", nil
	case KindGoFunction:
		t, recKey, err = portableTree(ctx, src.path, form, tmp)
		return t, nil, recKey, err
	case KindZip:
		if zin, err = openZip(src.path); err != nil {
			return nil, nil, "", err
		}
		if t, err = zipTree(zin, limits); err != nil {
			zin.Close()
			return nil, nil, "", err
		}
		return t, zin, "", nil
	}
	return nil, nil, "", fmt.Errorf("bundle: unknown source kind %d", src.kind)
}

func writeZipFile(ctx context.Context, items []item, f *os.File, h io.Writer, tmp *tempDir) ([]Entry, int64, error) {
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	cw := &countWriter{w: bw}
	m, err := writeZip(ctx, items, cw, tmp)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, 0, err
	}
	return m, cw.n, nil
}

func digestOf(h hash.Hash) string {
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// tempDir is a scratch directory made on first use (most builds need none).
type tempDir struct {
	base string
	once sync.Once
	dir  string
	err  error
}

func (t *tempDir) get() (string, error) {
	t.once.Do(func() {
		t.dir, t.err = os.MkdirTemp(t.base, "build-")
		if t.err != nil {
			t.err = fmt.Errorf("bundle: %w", t.err)
		}
	})
	return t.dir, t.err
}

func (t *tempDir) remove() {
	t.once.Do(func() {}) // no directory after this
	if t.dir != "" {
		os.RemoveAll(t.dir)
	}
}

// defaultCacheDir is $UPDRAFT_CACHE_DIR, else os.UserCacheDir()/updraft/bundles.
func defaultCacheDir() (string, error) {
	if d := os.Getenv("UPDRAFT_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("bundle: no cache directory (set Options.CacheDir or NoCache): %w", err)
	}
	return filepath.Join(d, "updraft", "bundles"), nil
}

// keepZipBundle returns the Bundle of an existing zip that is already
// canonical (see keepZip) as its own bytes, after checking every entry's
// contents against its size and CRC-32; nil when it is not canonical.
func keepZipBundle(ctx context.Context, zin *zipInput, t *tree, c *cache, tmp *tempDir) (*Bundle, error) {
	h := sha256.New()
	var buf bytes.Buffer
	var f *os.File
	out := io.Writer(&buf)
	if c != nil {
		var err error
		if f, err = os.CreateTemp(c.tmp(), "zip-"); err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		out = bufio.NewWriterSize(f, 256<<10)
	}
	ok, err := keepZip(ctx, zin, t.items, io.MultiWriter(out, h))
	if err != nil || !ok {
		return nil, err
	}
	entries, err := t.hashAll(ctx, nil)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Files: len(t.items), Manifest: entries, Size: zin.size, Digest: digestOf(h)}
	for i := range t.items {
		b.UnzippedSize += t.items[i].size
	}
	if c == nil {
		b.data = buf.Bytes()
		return b, nil
	}
	if err := out.(*bufio.Writer).Flush(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	// Not recorded by content key: a directory with the same files must
	// still get the bytes Build writes, not these.
	if b.Path, err = c.storeZip(f.Name(), b.Digest); err != nil {
		return nil, err
	}
	return b, nil
}
