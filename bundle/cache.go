package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// The cache is content addressed, in three directories under its root:
//
//	zip/<sha256>.zip    built zips, named by digest
//	meta/<key>.json     a Bundle (without Path) by content key: a hash of
//	                    every entry's name, mode, size and SHA-256, the
//	                    default-excluded paths and formatVersion, which is
//	                    everything the zip's bytes depend on
//	stat/<key>.json     per directory source (absolute path + form): the
//	                    stat of every file (size, mtime, ctime, inode) and
//	                    its SHA-256, with the content key they gave
//
// An unchanged tree is recognised from stat alone (no file is read); a
// tree whose stat changed but whose contents did not (touched, checked out
// again) is recognised by re-hashing only the files whose stat changed.
type cache struct{ dir string }

func openCache(dir string) (*cache, error) {
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
	return &cache{dir: dir}, nil
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
	return p, nil
}

type metaRecord struct {
	Digest          string   `json:"digest"`
	Size            int64    `json:"size"`
	UnzippedSize    int64    `json:"unzippedSize"`
	Files           int      `json:"files"`
	Manifest        []Entry  `json:"manifest"`
	DefaultExcluded []string `json:"defaultExcluded,omitempty"`
}

func (c *cache) saveMeta(key string, b *Bundle) {
	writeJSON(filepath.Join(c.dir, "meta", key+".json"), c.tmp(), metaRecord{
		Digest: b.Digest, Size: b.Size, UnzippedSize: b.UnzippedSize, Files: b.Files,
		Manifest: b.Manifest, DefaultExcluded: b.DefaultExcluded,
	})
}

// load returns the cached bundle with content key key, or nil. The zip
// must still be there with the recorded size.
func (c *cache) load(key string) *Bundle {
	var m metaRecord
	if !readJSON(filepath.Join(c.dir, "meta", key+".json"), &m) || !strings.HasPrefix(m.Digest, "sha256:") {
		return nil
	}
	p := c.zipPath(m.Digest)
	if fi, err := os.Stat(p); err != nil || fi.Size() != m.Size || len(m.Manifest) != m.Files {
		return nil
	}
	return &Bundle{Digest: m.Digest, Size: m.Size, UnzippedSize: m.UnzippedSize, Files: m.Files,
		Manifest: m.Manifest, DefaultExcluded: m.DefaultExcluded, Cached: true, Path: p}
}

type statFile struct {
	Name string   `json:"n"`
	St   fileStat `json:"st"`
	SHA  string   `json:"h"`
}

type statRecord struct {
	StatKey    string     `json:"statKey"`
	ContentKey string     `json:"contentKey"`
	Files      []statFile `json:"files"`
}

func (c *cache) loadStat(key string) *statRecord {
	var r statRecord
	if !readJSON(filepath.Join(c.dir, "stat", key+".json"), &r) {
		return nil
	}
	return &r
}

func (c *cache) saveStat(key string, t *tree, statKey, contentKey string, entries []Entry) {
	r := statRecord{StatKey: statKey, ContentKey: contentKey, Files: make([]statFile, 0, len(t.items))}
	for i := range t.items {
		if t.items[i].path != "" {
			r.Files = append(r.Files, statFile{Name: t.items[i].name, St: t.items[i].st, SHA: entries[i].SHA256})
		}
	}
	writeJSON(filepath.Join(c.dir, "stat", key+".json"), c.tmp(), r)
}

func writeJSON(path, tmpDir string, v any) {
	f, err := os.CreateTemp(tmpDir, "rec-")
	if err != nil {
		return
	}
	err = json.NewEncoder(f).Encode(v)
	if cerr := f.Close(); err == nil && cerr == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

func readJSON(path string, v any) bool {
	data, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(data, v) == nil
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
		for _, f := range rec.Files {
			known[f.Name] = f
		}
	}
	entries := make([]Entry, len(t.items))
	var todo []int
	for i := range t.items {
		it := &t.items[i]
		entries[i] = Entry{Name: it.name, Size: it.size, Mode: it.mode}
		if f, ok := known[it.name]; ok && it.path != "" && f.St == it.st && f.SHA != "" {
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
		return "", fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	h.Reset()
	n, err := io.Copy(h, io.LimitReader(f, it.size+1))
	if err != nil {
		return "", fmt.Errorf("bundle: reading %s: %w", it.name, err)
	}
	if n != it.size {
		return "", it.changed()
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
