package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The cache is content addressed, in three directories under its root:
//
//	zip/<sha256>.zip    built zips, named by digest
//	meta/<key>          a Bundle (without Path) by content key: a hash of
//	                    every entry's name, mode, size and SHA-256, the
//	                    default-excluded paths and formatVersion, which is
//	                    everything the zip's bytes depend on
//	stat/<key>.*        per directory source (absolute path + form): the
//	                    stat of every file (size, mtime, ctime, inode) and
//	                    its SHA-256, with the content key they gave
//
// An unchanged tree is recognised from stat alone (no file is read); a
// tree whose stat changed but whose contents did not (touched, checked out
// again) is recognised by re-hashing only the files whose stat changed.
//
// A cached zip is trusted only if its size and CRC-32C are those its meta
// record holds: reading it back costs about a millisecond per 10 MB,
// against the seconds of building it, where a SHA-256 would cost several
// times that. (The checksum guards against a damaged or truncated file; a
// process that can write the cache can write its records too.) A zip that
// does not match is removed and rebuilt.
//
// Every use of a file sets its modification time, and after each new zip
// the least recently used files are removed until the cache is under its
// bound, except those used in the last cacheGrace: a Bundle.Path handed to
// a caller stays readable at least that long.
type cache struct {
	dir   string
	max   int64         // bound in bytes; negative: none
	grace time.Duration // files used more recently are not removed
}

// DefaultCacheMaxBytes bounds the bundle cache when Options.CacheMaxBytes
// is zero: 1 GiB.
const DefaultCacheMaxBytes = 1 << 30

// cacheGrace is how long a cache file just used is safe from eviction.
const cacheGrace = time.Hour

func openCache(dir string, maxBytes int64) (*cache, error) {
	if dir == "" {
		var err error
		if dir, err = defaultCacheDir(); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"zip", "meta", "stat", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("bundle: cache: %w", err)
		}
	}
	if maxBytes == 0 {
		maxBytes = DefaultCacheMaxBytes
	}
	return &cache{dir: dir, max: maxBytes, grace: cacheGrace}, nil
}

// touch records a use of the cache file at p.
func touch(p string) {
	now := time.Now()
	os.Chtimes(p, now, now)
}

// evict removes the least recently used files of the cache until it is
// under its bound, and leftovers of builds that did not finish. It never
// removes keep or a file used in the last c.grace.
func (c *cache) evict(keep string) {
	type file struct {
		path string
		size int64
		used time.Time
	}
	var files []file
	var total int64
	now := time.Now()
	for _, sub := range []string{"zip", "meta", "stat", "tmp"} {
		ents, err := os.ReadDir(filepath.Join(c.dir, sub))
		if err != nil {
			continue
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				continue
			}
			p := filepath.Join(c.dir, sub, e.Name())
			if sub == "tmp" {
				if now.Sub(fi.ModTime()) > c.grace {
					os.RemoveAll(p)
				}
				continue
			}
			files = append(files, file{p, fi.Size(), fi.ModTime()})
			total += fi.Size()
		}
	}
	if c.max < 0 || total <= c.max {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= c.max || now.Sub(f.used) < c.grace {
			return
		}
		if f.path != keep && os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}

func (c *cache) tmp() string { return filepath.Join(c.dir, "tmp") }

func (c *cache) zipPath(digest string) string {
	return filepath.Join(c.dir, "zip", strings.TrimPrefix(digest, "sha256:")+".zip")
}

// storeZip moves a finished zip into place and returns its path.
func (c *cache) storeZip(tmpName, digest string) (string, error) {
	p := c.zipPath(digest)
	if err := os.Rename(tmpName, p); err != nil {
		return "", fmt.Errorf("bundle: cache: %w", err)
	}
	touch(p)
	c.evict(p)
	return p, nil
}

type metaHeader struct {
	Digest          string   `json:"digest"`
	Size            int64    `json:"size"`
	CRC32C          string   `json:"crc32c"` // of the zip, hex`
	UnzippedSize    int64    `json:"unzippedSize"`
	Files           int      `json:"files"`
	DefaultExcluded []string `json:"defaultExcluded,omitempty"`
}

// saveMeta records b under its content key: a JSON header line, then one
// "mode size sha256 name" line per manifest entry (names hold no control
// characters), which reads back several times faster than JSON.
func (c *cache) saveMeta(key string, b *Bundle, crc uint32) {
	writeFile(filepath.Join(c.dir, "meta", key), c.tmp(), func(w *bufio.Writer) error {
		hdr, err := json.Marshal(metaHeader{Digest: b.Digest, Size: b.Size, CRC32C: fmt.Sprintf("%08x", crc), UnzippedSize: b.UnzippedSize,
			Files: b.Files, DefaultExcluded: b.DefaultExcluded})
		if err != nil {
			return err
		}
		w.Write(hdr)
		w.WriteByte('\n')
		for _, e := range b.Manifest {
			fmt.Fprintf(w, "%o %d %s %s\n", e.Mode, e.Size, e.SHA256, e.Name)
		}
		return nil
	})
}

// load returns the cached bundle with content key key, or nil. The zip
// must still be there with the recorded size and CRC-32C.
func (c *cache) load(key string) *Bundle {
	metaPath := filepath.Join(c.dir, "meta", key)
	data, err := os.ReadFile(metaPath)
	if err != nil {
		return nil
	}
	line, rest, _ := bytes.Cut(data, []byte("\n"))
	var m metaHeader
	if json.Unmarshal(line, &m) != nil || !strings.HasPrefix(m.Digest, "sha256:") || len(m.CRC32C) != 8 {
		return nil
	}
	p := c.zipPath(m.Digest)
	if !checkZip(p, m.Size, m.CRC32C) {
		os.Remove(p) // damaged: rebuilt, stored again
		return nil
	}
	manifest := make([]Entry, 0, m.Files)
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		f := strings.SplitN(string(line), " ", 4)
		if len(f) != 4 {
			return nil
		}
		mode, err1 := strconv.ParseUint(f[0], 8, 32)
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		manifest = append(manifest, Entry{Name: f[3], Size: size, Mode: fs.FileMode(mode), SHA256: f[2]})
	}
	if len(manifest) != m.Files {
		return nil
	}
	touch(metaPath)
	touch(p)
	return &Bundle{Digest: m.Digest, Size: m.Size, UnzippedSize: m.UnzippedSize, Files: m.Files,
		Manifest: manifest, DefaultExcluded: m.DefaultExcluded, Cached: true, Path: p}
}

// checkZip reports whether the file at p has size bytes and the CRC-32C
// crc (hex).
func checkZip(p string, size int64, crc string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		return false
	}
	h := crc32.New(castagnoli)
	if n, err := io.Copy(h, f); err != nil || n != size {
		return false
	}
	return fmt.Sprintf("%08x", h.Sum32()) == crc
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type statFile struct {
	Name string
	St   fileStat
	SHA  string
}

// statRecord is what the last build of a directory source saw. The keys
// live in a small file of their own so that an unchanged tree is
// recognised without reading the per-file list.
type statRecord struct {
	StatKey, ContentKey string
	files               string // path of the per-file list
}

func (c *cache) loadStat(key string) *statRecord {
	data, err := os.ReadFile(filepath.Join(c.dir, "stat", key+".key"))
	if err != nil {
		return nil
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return nil
	}
	touch(filepath.Join(c.dir, "stat", key+".key"))
	touch(filepath.Join(c.dir, "stat", key+".files"))
	return &statRecord{StatKey: f[0], ContentKey: f[1], files: filepath.Join(c.dir, "stat", key+".files")}
}

// knownFiles reads the per-file list of a stat record.
func (r *statRecord) knownFiles() map[string]statFile {
	known := map[string]statFile{}
	data, err := os.ReadFile(r.files)
	if err != nil {
		return known
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.SplitN(line, " ", 6)
		if len(f) != 6 {
			continue
		}
		var sf statFile
		var err error
		var n [4]int64
		for i := range 4 {
			if n[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
				break
			}
		}
		if err != nil {
			continue
		}
		sf.St = fileStat{Size: n[0], MtimeNs: n[1], CtimeNs: n[2], Ino: uint64(n[3])}
		sf.SHA, sf.Name = f[4], f[5]
		known[sf.Name] = sf
	}
	return known
}

func (c *cache) saveStat(key string, t *tree, statKey, contentKey string, entries []Entry) {
	base := filepath.Join(c.dir, "stat", key)
	writeFile(base+".files", c.tmp(), func(w *bufio.Writer) error {
		for i := range t.items {
			if it := &t.items[i]; it.path != "" {
				fmt.Fprintf(w, "%d %d %d %d %s %s\n", it.st.Size, it.st.MtimeNs, it.st.CtimeNs, int64(it.st.Ino), entries[i].SHA256, it.name)
			}
		}
		return nil
	})
	writeFile(base+".key", c.tmp(), func(w *bufio.Writer) error {
		_, err := fmt.Fprintf(w, "%s %s\n", statKey, contentKey)
		return err
	})
}

// writeFile writes path atomically (temp file and rename); the cache is
// best effort, so failures leave the old state.
func writeFile(path, tmpDir string, fill func(*bufio.Writer) error) {
	f, err := os.CreateTemp(tmpDir, "rec-")
	if err != nil {
		return
	}
	w := bufio.NewWriterSize(f, 64<<10)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil && cerr == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// keyWriter feeds length-prefixed fields into a hash, so that no two
// field lists give the same stream.
type keyWriter struct {
	h   hash.Hash
	buf [8]byte
}

func newKey(kind string) *keyWriter {
	k := &keyWriter{h: sha256.New()}
	k.str(formatVersion)
	k.str(kind)
	return k
}

func (k *keyWriter) str(s string) {
	k.num(uint64(len(s)))
	io.WriteString(k.h, s)
}

func (k *keyWriter) num(n uint64) {
	binary.LittleEndian.PutUint64(k.buf[:], n)
	k.h.Write(k.buf[:])
}

func (k *keyWriter) sum() string { return hex.EncodeToString(k.h.Sum(nil)) }

// statRecordKey names the stat record of a directory source for a form.
func statRecordKey(dir string, f Form) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	k := newKey("stat-record")
	k.str(abs)
	names := make([]string, 0, len(f.Extra))
	for n := range f.Extra {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sum := sha256.Sum256(f.Extra[n])
		k.str(n)
		k.str(string(sum[:]))
	}
	return k.sum()
}

// statKey hashes the tree's names, modes and stats, and the contents of
// its in-memory files: equal keys mean an unchanged tree.
func (t *tree) statKey() string {
	k := newKey("stat")
	for _, ex := range t.excluded {
		k.str(ex)
	}
	k.num(uint64(len(t.items)))
	for i := range t.items {
		it := &t.items[i]
		k.str(it.name)
		k.num(uint64(it.mode))
		k.num(uint64(it.size))
		if it.data != nil {
			sum := sha256.Sum256(it.data)
			k.str(string(sum[:]))
		} else {
			k.num(uint64(it.st.MtimeNs))
			k.num(uint64(it.st.CtimeNs))
			k.num(it.st.Ino)
		}
	}
	return k.sum()
}

// contentKey identifies a zip by everything its bytes depend on.
func contentKey(entries []Entry, excluded []string) string {
	k := newKey("content")
	for _, ex := range excluded {
		k.str(ex)
	}
	k.num(uint64(len(entries)))
	for _, e := range entries {
		k.str(e.Name)
		k.num(uint64(e.Mode))
		k.num(uint64(e.Size))
		k.str(e.SHA256)
	}
	return k.sum()
}

// cheapToHash reports whether hashing the tree before building is cheap:
// everything in memory, or a single file (a compiled binary).
func (t *tree) cheapToHash() bool {
	if len(t.items) == 1 && t.items[0].zf == nil {
		return true
	}
	for i := range t.items {
		if t.items[i].data == nil {
			return false
		}
	}
	return true
}

// hashAll returns the manifest entries of the tree, reading only the
// files whose stat differs from rec.
func (t *tree) hashAll(ctx context.Context, rec *statRecord) ([]Entry, error) {
	known := map[string]statFile{}
	if rec != nil {
		known = rec.knownFiles()
	}
	entries := make([]Entry, len(t.items))
	var todo []int
	for i := range t.items {
		it := &t.items[i]
		entries[i] = Entry{Name: it.name, Size: it.size, Mode: it.mode}
		if f, ok := known[it.name]; ok && it.path != "" && f.St.same(it.st) && f.SHA != "" {
			entries[i].SHA256 = f.SHA
			continue
		}
		todo = append(todo, i)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			for i := range next {
				sum, err := hashItem(&t.items[i], h)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				entries[i].SHA256 = sum
			}
		}()
	}
	for _, i := range todo {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return entries, firstErr
}

func hashItem(it *item, h hash.Hash) (string, error) {
	if it.data != nil {
		sum := sha256.Sum256(it.data)
		return hex.EncodeToString(sum[:]), nil
	}
	f, err := it.open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	h.Reset()
	n, err := io.Copy(h, io.LimitReader(f, it.size+1))
	if err != nil {
		return "", readErr(it, err)
	}
	if n != it.size {
		return "", it.changed()
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
