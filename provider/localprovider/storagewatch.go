package localprovider

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/updraft-dev/updraft/trigger"
)

// The bucket watcher turns file changes into object events. One process
// at a time watches a bucket: the one holding DIR/buckets/.NAME.watch.lock
// (the others try again every second), so hosts sharing a state
// directory enqueue each change once. It watches the directory tree with
// fsnotify (a watch per directory, added for new directories as they
// appear) and settles a file once its size and modification time have
// not changed for 100 ms after its last event, so a file written in
// many chunks is one object; only then is its MD5 (the ETag) computed.
// On start, after its watches are in place, it compares the tree with
// the index: what changed while no process watched becomes events too.

// storageIgnored reports whether a file or directory name is left out of
// a bucket: hidden names (a leading '.') and the temporary files editors
// and tools write (a trailing '~', ".swp", ".tmp").
func storageIgnored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".tmp")
}

// fileStat is what settling compares.
type fileStat struct {
	exists bool
	size   int64
	mtime  int64
}

type candidate struct {
	stat  fileStat
	seen  bool // stat was observed at least once
	since time.Time
}

type bucketWatcher struct {
	fr  *fnRuntime
	b   bucketPaths
	w   *fsnotify.Watcher
	idx map[string]objEntry
	// dirs are the watched directories, by absolute path.
	dirs  map[string]bool
	cands map[string]*candidate
	// rootGone is set when the bucket's directory itself was removed or
	// moved away.
	rootGone bool
}

var errBucketGone = errors.New("the bucket's directory was removed or moved away")

// watchBucket watches bucket b whenever this process holds its watch
// lock, until ctx ends.
func (fr *fnRuntime) watchBucket(ctx context.Context, b bucketPaths) {
	log := fr.h.opts.Logger
	warned := false
	for ctx.Err() == nil {
		unlock, ok, err := tryLockFile(b.watchLock)
		switch {
		case ok:
			warned = false
			err = (&bucketWatcher{fr: fr, b: b}).run(ctx)
			unlock()
			if errors.Is(err, errBucketGone) && ctx.Err() == nil {
				// The bucket lives on while a trigger uses it: an empty
				// directory takes the old one's place, and the objects
				// that were in it are deleted.
				log.Info("bucket directory removed; recreating it", "bucket", b.name, "dir", b.root)
				if err := os.MkdirAll(b.root, 0o755); err != nil {
					log.Warn("bucket directory not recreated", "bucket", b.name, "dir", b.root, "err", err)
				}
				continue
			}
			if err != nil && ctx.Err() == nil {
				log.Warn("bucket watcher stopped; restarting it", "bucket", b.name, "dir", b.root, "err", err)
			}
		case err != nil && !warned:
			warned = true
			log.Warn("bucket watch lock not taken; retrying", "bucket", b.name, "lock", b.watchLock, "err", err)
		}
		if !sleep(ctx, storageLockRetry, nil) {
			return
		}
	}
}

func (bw *bucketWatcher) run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	bw.w, bw.dirs, bw.cands = w, map[string]bool{}, map[string]*candidate{}
	if err := bw.addTree(bw.b.root); err != nil {
		return err
	}
	if err := bw.start(ctx); err != nil {
		return err
	}
	bw.fr.h.opts.Logger.Info("watching bucket", "bucket", bw.b.name, "dir", bw.b.root, "objects", len(bw.idx))
	tick := time.NewTicker(storageSettleTick)
	defer tick.Stop()
	rescan := time.NewTicker(storageRescanEvery)
	defer rescan.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("the file watcher closed")
			}
			bw.handle(ev)
			if bw.rootGone {
				return errBucketGone
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("the file watcher closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				bw.fr.h.opts.Logger.Info("bucket watch overflowed; rescanning", "bucket", bw.b.name)
				bw.rescan()
				continue
			}
			return err
		case <-rescan.C:
			bw.prune(ctx)
			bw.rescan()
		case <-tick.C:
			if err := bw.settle(ctx); err != nil && ctx.Err() == nil {
				bw.fr.h.opts.Logger.Warn("object events not recorded; retrying", "bucket", bw.b.name, "err", err)
			}
		}
	}
}

// start loads the index. A bucket never scanned before is recorded as it
// is, without events, unless updraft created its directory.
func (bw *bucketWatcher) start(ctx context.Context) error {
	var init bool
	err := bucketDB(ctx, bw.b, func(tx *bolt.Tx) error {
		var err error
		bw.idx, init, err = loadIndex(tx)
		return err
	})
	if err != nil {
		return err
	}
	if init {
		os.Remove(bw.b.newMark)
		bw.prune(ctx)
		bw.rescan()
		return nil
	}
	_, err = os.Stat(bw.b.newMark)
	fresh := err == nil
	base := map[string]objEntry{}
	if !fresh {
		bw.walk(bw.b.root, func(key string, _ fileStat) {
			if ctx.Err() != nil {
				return
			}
			if e, err := hashFile(filepath.Join(bw.b.root, filepath.FromSlash(key))); err == nil {
				e.Gen = e.MTime / 1000
				base[key] = e
			}
		})
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = bucketDB(ctx, bw.b, func(tx *bolt.Tx) error {
		if tx.Bucket(bktStMeta).Get(keyStInit) != nil {
			return nil
		}
		for k, e := range base {
			if err := putJSON(tx.Bucket(bktStIndex), []byte(k), e); err != nil {
				return err
			}
		}
		return tx.Bucket(bktStMeta).Put(keyStInit, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	})
	if err != nil {
		return err
	}
	os.Remove(bw.b.newMark)
	if err := bucketDB(ctx, bw.b, func(tx *bolt.Tx) error {
		bw.idx, _, err = loadIndex(tx)
		return err
	}); err != nil {
		return err
	}
	if !fresh && len(base) > 0 {
		bw.fr.h.opts.Logger.Info("bucket indexed: its existing files are objects without events, as S3 does not notify for objects older than the notification", "bucket", bw.b.name, "objects", len(base))
	}
	bw.rescan()
	return nil
}

// addTree watches dir and every directory under it.
func (bw *bucketWatcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil // gone meanwhile
		}
		if !d.IsDir() {
			return nil
		}
		if p != bw.b.root && storageIgnored(d.Name()) {
			return filepath.SkipDir
		}
		if bw.dirs[p] {
			return nil
		}
		if err := bw.w.Add(p); err != nil {
			if p == bw.b.root {
				return err
			}
			bw.fr.h.opts.Logger.Warn("bucket directory not watched", "bucket", bw.b.name, "dir", p, "err", err)
			return nil
		}
		bw.dirs[p] = true
		return nil
	})
}

// walk calls fn for every regular file of the bucket under dir.
func (bw *bucketWatcher) walk(dir string, fn func(key string, st fileStat)) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == bw.b.root {
			return nil
		}
		if storageIgnored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if key, ok := bw.key(p); ok {
			fn(key, fileStat{true, fi.Size(), fi.ModTime().UnixNano()})
		}
		return nil
	})
}

// rescan makes a candidate of every file that differs from the index and
// of every indexed object whose file is gone.
func (bw *bucketWatcher) rescan() {
	bw.addTree(bw.b.root)
	seen := map[string]bool{}
	bw.walk(bw.b.root, func(key string, st fileStat) {
		seen[key] = true
		if e, ok := bw.idx[key]; !ok || e.Size != st.size || e.MTime != st.mtime {
			bw.mark(key)
		}
	})
	for key := range bw.idx {
		if !seen[key] {
			bw.mark(key)
		}
	}
}

// key is the object key of path p; false for a path outside the bucket
// or with an ignored element.
func (bw *bucketWatcher) key(p string) (string, bool) {
	rel, err := filepath.Rel(bw.b.root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	key := filepath.ToSlash(rel)
	for _, part := range strings.Split(key, "/") {
		if storageIgnored(part) {
			return "", false
		}
	}
	return key, true
}

func (bw *bucketWatcher) mark(key string) {
	if c := bw.cands[key]; c != nil {
		c.since = time.Now()
		return
	}
	bw.cands[key] = &candidate{since: time.Now()}
}

func (bw *bucketWatcher) handle(ev fsnotify.Event) {
	if ev.Name == bw.b.root && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		bw.rootGone = true
		return
	}
	key, ok := bw.key(ev.Name)
	if !ok {
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			// Files may have been written in it before its watch.
			bw.addTree(ev.Name)
			bw.rescanUnder(ev.Name)
			return
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if bw.dirs[ev.Name] {
			for d := range bw.dirs {
				if d == ev.Name || strings.HasPrefix(d, ev.Name+string(filepath.Separator)) {
					bw.w.Remove(d)
					delete(bw.dirs, d)
				}
			}
		}
		// A directory moved out or removed: its objects are gone.
		for k := range bw.idx {
			if strings.HasPrefix(k, key+"/") {
				bw.mark(k)
			}
		}
	}
	bw.mark(key)
}

// rescanUnder makes candidates of the files under directory dir.
func (bw *bucketWatcher) rescanUnder(dir string) {
	bw.walk(dir, func(key string, st fileStat) {
		if e, ok := bw.idx[key]; !ok || e.Size != st.size || e.MTime != st.mtime {
			bw.mark(key)
		}
	})
}

func statFile(p string) fileStat {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return fileStat{}
	}
	return fileStat{true, fi.Size(), fi.ModTime().UnixNano()}
}

// settle turns the candidates that have been stable for storageQuiet
// into changes, recorded in one transaction in the order they happened.
func (bw *bucketWatcher) settle(ctx context.Context) error {
	now := time.Now()
	var changes []objChange
	var done []string
	for key, c := range bw.cands {
		ch, changed, ok := bw.settleOne(key, c, now)
		if ok {
			done = append(done, key)
		}
		if changed {
			changes = append(changes, ch)
		}
	}
	slices.SortFunc(changes, func(a, b objChange) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.key, b.key))
	})
	if len(changes) > 0 {
		err := bucketDB(ctx, bw.b, func(tx *bolt.Tx) error { return applyTx(tx, changes, &bw.fr.h.ids) })
		if err != nil {
			for _, k := range done {
				bw.cands[k].seen = false
			}
			return err
		}
		for _, ch := range changes {
			if ch.deleted {
				delete(bw.idx, ch.key)
			} else {
				bw.idx[ch.key] = ch.obj
			}
		}
		bw.fr.h.queues.wake(storageWakeName(bw.b.name))
	}
	for _, k := range done {
		delete(bw.cands, k)
	}
	return nil
}

// settleOne looks at one candidate: done when it is settled, changed
// when that is a change of the index.
func (bw *bucketWatcher) settleOne(key string, c *candidate, now time.Time) (ch objChange, changed, done bool) {
	p := filepath.Join(bw.b.root, filepath.FromSlash(key))
	st := statFile(p)
	if !c.seen || st != c.stat {
		c.seen, c.stat, c.since = true, st, now
		return ch, false, false
	}
	if now.Sub(c.since) < storageQuiet {
		return ch, false, false
	}
	old, indexed := bw.idx[key]
	switch {
	case !st.exists:
		return objChange{key: key, deleted: true, obj: old, at: now}, indexed, true
	case indexed && old.Size == st.size && old.MTime == st.mtime:
		return ch, false, true // touched, not changed (a chmod)
	}
	e, err := hashFile(p)
	if err != nil || e.Size != st.size || e.MTime != st.mtime {
		c.seen = false // changed while it was read: wait again
		return ch, false, false
	}
	e.Gen = max(e.MTime/1000, old.Gen+1)
	return objChange{key: key, obj: e, at: time.Unix(0, e.MTime)}, true, true
}

// hashFile reads the file at p for its ETag (the hex MD5 of its content,
// S3's ETag of a single-part upload) and CRC32C, and stats it afterwards.
func hashFile(p string) (objEntry, error) {
	f, err := os.Open(p)
	if err != nil {
		return objEntry{}, err
	}
	defer f.Close()
	m, c := md5.New(), crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(io.MultiWriter(m, c), f); err != nil {
		return objEntry{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return objEntry{}, err
	}
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], c.Sum32())
	return objEntry{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), ETag: hex.EncodeToString(m.Sum(nil)),
		CRC32C: base64.StdEncoding.EncodeToString(crc[:])}, nil
}

// prune forgets the consumers whose function is deleted or no longer has
// the storage trigger on this bucket, with their pending events.
func (bw *bucketWatcher) prune(ctx context.Context) {
	var gone []string
	err := bucketDB(ctx, bw.b, func(tx *bolt.Tx) error {
		gone = nil
		cb := tx.Bucket(bktStConsumers)
		err := cb.ForEach(func(k, _ []byte) error {
			c, err := getJSON[consumerRec](cb, k)
			if err != nil || c == nil {
				return nil
			}
			m, err := bw.fr.h.loadMeta(c.Function)
			if err != nil {
				return nil // unreadable now: keep it
			}
			if m != nil {
				for _, t := range m.TriggerList() {
					if s, ok := t.(trigger.Storage); ok && s.Key == c.Trigger && BucketName(s.Bucket) == bw.b.name {
						return nil
					}
				}
			}
			gone = append(gone, string(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range gone {
			if err := cb.Delete([]byte(k)); err != nil {
				return err
			}
			if err := tx.DeleteBucket(queueBucket(k)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	for _, k := range gone {
		bw.fr.h.opts.Logger.Info("storage consumer forgotten: its function or trigger is gone", "bucket", bw.b.name, "consumer", k)
	}
}
