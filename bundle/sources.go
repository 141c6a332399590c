package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// tree is what a source contributes: its files (not yet sorted), and what
// the default ignore rules left out.
type tree struct {
	items    []item
	excluded []string
}

func normMode(m fs.FileMode) fs.FileMode {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// walker collects the files of a directory tree, reading directories in
// parallel (the walk is mostly system calls, which block).
type walker struct {
	ctx      context.Context
	realRoot string
	ig       *ignorer
	sem      chan struct{} // bounds the goroutines reading directories
	wg       sync.WaitGroup

	mu       sync.Mutex
	items    []item
	excluded []string
	err      error
	failed   atomic.Bool
}

// frame is a directory being walked, for symlink cycle detection.
type frame struct {
	real string
	up   *frame
}

func (f *frame) contains(real string) bool {
	for ; f != nil; f = f.up {
		if f.real == real {
			return true
		}
	}
	return false
}

func walkDir(ctx context.Context, root string) (*tree, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("bundle: source %s: %w", root, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("bundle: source %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("bundle: source %s is not a directory", root)
	}
	ign, err := os.ReadFile(filepath.Join(real, IgnoreFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	w := &walker{ctx: ctx, realRoot: real, ig: newIgnorer(ign), sem: make(chan struct{}, 4*max(1, runtime.GOMAXPROCS(0)))}
	w.dir(real, "", &frame{real: real})
	w.wg.Wait()
	if w.err != nil {
		return nil, w.err
	}
	return &tree{items: w.items, excluded: w.excluded}, nil
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.failed.Store(true)
}

// spawn walks a subdirectory in a new goroutine when one is free, or in
// this one.
func (w *walker) spawn(p, rel string, fr *frame) {
	select {
	case w.sem <- struct{}{}:
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-w.sem }()
			w.dir(p, rel, fr)
		}()
	default:
		w.dir(p, rel, fr)
	}
}

// dir walks the directory at p, named rel in the bundle ("" for the
// root); fr.real is its real (symlink-free) path.
func (w *walker) dir(p, rel string, fr *frame) {
	if w.failed.Load() {
		return
	}
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
		return
	}
	ents, err := readDir(p)
	if err != nil {
		w.fail(fmt.Errorf("bundle: %w", err))
		return
	}
	d := &dirScan{w: w, p: p, rel: rel, fr: fr}
	for _, e := range ents {
		if err := d.entry(e); err != nil {
			w.fail(err)
			return
		}
	}
	w.mu.Lock()
	w.items = append(w.items, d.items...)
	w.excluded = append(w.excluded, d.excluded...)
	w.mu.Unlock()
}

// dirScan is one directory being read: what it contributes, gathered
// before it joins the walker's results.
type dirScan struct {
	w        *walker
	p, rel   string // the directory's path and its path in the bundle
	fr       *frame
	items    []item
	excluded []string
}

// isExcluded reports whether the rules exclude rel, noting the default
// exclusions.
func (d *dirScan) isExcluded(rel string) bool {
	ex, byDefault := d.w.ig.match(rel)
	if ex && byDefault {
		d.excluded = append(d.excluded, rel)
	}
	return ex
}

// entry adds e: a file as an item, a directory as a walk of its own.
func (d *dirScan) entry(e fs.DirEntry) error {
	name := e.Name()
	if err := checkNameElem(name); err != nil {
		return &UnsafeError{Path: path.Join(d.rel, name), Reason: err.Error()}
	}
	erel := name
	if d.rel != "" {
		erel = d.rel + "/" + name
	}
	ep := d.p + string(filepath.Separator) + name // p is clean, name one element
	ereal := ""                                   // the real path, needed for directories only
	typ := e.Type()
	var info fs.FileInfo
	if typ&fs.ModeSymlink != 0 {
		target, fi, err := d.symlink(ep, erel)
		if err != nil || fi == nil {
			return err
		}
		ep, ereal, typ, info = target, target, fi.Mode().Type(), fi
	} else if typ.IsDir() && d.isExcluded(erel+"/") || !typ.IsDir() && d.isExcluded(erel) {
		return nil
	}
	switch {
	case typ.IsDir():
		if ereal == "" {
			ereal = d.fr.real + string(filepath.Separator) + name
		}
		if d.fr.contains(ereal) {
			return &UnsafeError{Path: erel, Reason: "symlink cycle"}
		}
		d.w.spawn(ep, erel, &frame{real: ereal, up: d.fr})
	case typ.IsRegular():
		if info == nil {
			var err error
			if info, err = e.Info(); err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			if !info.Mode().IsRegular() { // replaced since ReadDir
				return &UnsafeError{Path: erel, Reason: "not a regular file"}
			}
		}
		d.items = append(d.items, item{name: erel, mode: normMode(info.Mode()), size: info.Size(), path: ep, st: statOf(info)})
	default:
		return &UnsafeError{Path: erel, Reason: "special file (" + describeType(typ) + ")"}
	}
	return nil
}

// symlink resolves the link ep (erel in the bundle) to its target and
// the target's info; a nil info with a nil error means it is excluded.
// A link must stay inside the source root.
func (d *dirScan) symlink(ep, erel string) (string, fs.FileInfo, error) {
	fi, err := os.Stat(ep)
	if err != nil {
		if d.isExcluded(erel) {
			return "", nil, nil
		}
		return "", nil, &UnsafeError{Path: erel, Reason: "broken symlink: " + err.Error()}
	}
	slash := ""
	if fi.IsDir() {
		slash = "/"
	}
	if d.isExcluded(erel + slash) {
		return "", nil, nil
	}
	target, err := filepath.EvalSymlinks(ep)
	if err != nil {
		return "", nil, &UnsafeError{Path: erel, Reason: "unresolvable symlink: " + err.Error()}
	}
	r, err := filepath.Rel(d.w.realRoot, target)
	if err != nil || !(r == "." || filepath.IsLocal(r)) {
		return "", nil, &UnsafeError{Path: erel, Reason: fmt.Sprintf("symlink to %s leaves the source root", target)}
	}
	// The rules apply to what the link points at too: a link to .env or
	// into .git/ is as excluded as its target.
	if ex, byDefault := d.w.ig.matchPath(filepath.ToSlash(r) + slash); ex && r != "." {
		if byDefault {
			d.excluded = append(d.excluded, erel+slash)
		}
		return "", nil, nil
	}
	return target, fi, nil
}

// readDir lists a directory unsorted (the items are sorted once, later).
func readDir(p string) ([]fs.DirEntry, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func describeType(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "device"
	case t.IsDir():
		return "directory"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "irregular file"
}

// memItem is an in-memory file: executable when it starts with "#!".
func memItem(name string, data []byte) item {
	mode := fs.FileMode(0o644)
	if bytes.HasPrefix(data, []byte("#!")) {
		mode = 0o755
	}
	if data == nil {
		data = []byte{}
	}
	return item{name: name, mode: mode, size: int64(len(data)), data: data}
}

// filesTree is the tree of an in-memory Files source.
func filesTree(files map[string][]byte) (*tree, error) {
	ig := newIgnorer(files[IgnoreFile])
	t := &tree{}
	for name, data := range files {
		if err := checkEntryName(name); err != nil {
			return nil, err
		}
		if ex, byDefault := ig.matchPath(name); ex {
			if byDefault {
				t.excluded = append(t.excluded, name)
			}
			continue
		}
		t.items = append(t.items, memItem(name, data))
	}
	return t, nil
}

// finish adds the Form's extra files (which win over source files of the
// same name), sorts the items and checks the tree is well formed.
func (t *tree) finish(extra map[string][]byte) error {
	if len(extra) > 0 {
		t.items = slices.DeleteFunc(t.items, func(it item) bool { _, ok := extra[it.name]; return ok })
		for name, data := range extra {
			t.items = append(t.items, memItem(name, data))
		}
	}
	slices.SortFunc(t.items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	slices.Sort(t.excluded)
	names := make([]string, len(t.items))
	for i := range t.items {
		names[i] = t.items[i].name
		if i > 0 && names[i] == names[i-1] {
			return &UnsafeError{Path: names[i], Reason: "duplicate file name"}
		}
	}
	return checkTree(names)
}
