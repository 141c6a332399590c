package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// walker collects the files of a directory tree.
type walker struct {
	ctx      context.Context
	realRoot string
	ig       *ignorer
	t        *tree
	onStack  map[string]bool // real paths of directories being walked
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
	w := &walker{ctx: ctx, realRoot: real, ig: newIgnorer(ign), t: &tree{}, onStack: map[string]bool{}}
	if err := w.dir(real, real, ""); err != nil {
		return nil, err
	}
	return w.t, nil
}

// excluded applies the ignore rules to rel ("dir/" for directories).
func (w *walker) excluded(rel string) bool {
	ex, byDefault := w.ig.match(rel)
	if ex && byDefault {
		w.t.excluded = append(w.t.excluded, rel)
	}
	return ex
}

// dir walks the directory at p, whose real (symlink-free) path is real and
// whose name in the bundle is rel ("" for the root).
func (w *walker) dir(p, real, rel string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.onStack[real] = true
	defer delete(w.onStack, real)
	ents, err := os.ReadDir(p)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		erel := name
		if rel != "" {
			erel = rel + "/" + name
		}
		ep, ereal := filepath.Join(p, name), filepath.Join(real, name)
		typ := e.Type()
		var info fs.FileInfo
		if typ&fs.ModeSymlink != 0 {
			fi, err := os.Stat(ep)
			if err != nil {
				if w.excluded(erel) {
					continue
				}
				return &UnsafeError{Path: erel, Reason: "broken symlink: " + err.Error()}
			}
			if fi.IsDir() && w.excluded(erel+"/") || !fi.IsDir() && w.excluded(erel) {
				continue
			}
			target, err := filepath.EvalSymlinks(ep)
			if err != nil {
				return &UnsafeError{Path: erel, Reason: "unresolvable symlink: " + err.Error()}
			}
			if r, err := filepath.Rel(w.realRoot, target); err != nil || !(r == "." || filepath.IsLocal(r)) {
				return &UnsafeError{Path: erel, Reason: fmt.Sprintf("symlink to %s leaves the source root", target)}
			}
			ep, ereal, typ, info = target, target, fi.Mode().Type(), fi
		} else if typ.IsDir() && w.excluded(erel+"/") || !typ.IsDir() && w.excluded(erel) {
			continue
		}
		switch {
		case typ.IsDir():
			if w.onStack[ereal] {
				return &UnsafeError{Path: erel, Reason: "symlink cycle"}
			}
			if err := w.dir(ep, ereal, erel); err != nil {
				return err
			}
		case typ.IsRegular():
			if info == nil {
				if info, err = e.Info(); err != nil {
					return fmt.Errorf("bundle: %w", err)
				}
				if !info.Mode().IsRegular() { // replaced since ReadDir
					return &UnsafeError{Path: erel, Reason: "not a regular file"}
				}
			}
			w.t.items = append(w.t.items, item{name: erel, mode: normMode(info.Mode()), size: info.Size(), path: ep, st: statOf(info)})
		default:
			return &UnsafeError{Path: erel, Reason: "special file (" + describeType(typ) + ")"}
		}
	}
	return nil
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
	}
	return "irregular file"
}

// filesTree is the tree of an in-memory Files source.
func filesTree(files map[string][]byte) (*tree, error) {
	ig := newIgnorer(files[IgnoreFile])
	t := &tree{}
	for name, data := range files {
		if err := checkEntryName(name); err != nil {
			return nil, err
		}
		if ex, byDefault := ig.match(name); ex {
			if byDefault {
				t.excluded = append(t.excluded, name)
			}
			continue
		}
		mode := fs.FileMode(0o644)
		if bytes.HasPrefix(data, []byte("#!")) {
			mode = 0o755
		}
		if data == nil {
			data = []byte{}
		}
		t.items = append(t.items, item{name: name, mode: mode, size: int64(len(data)), data: data})
	}
	return t, nil
}

// zipTree is the tree of an existing zip, validated entry by entry.
// Directory entries are dropped; symlinks and special files are refused.
func zipTree(zr *zip.Reader) (*tree, error) {
	ig := newIgnorer(nil)
	t := &tree{}
	seen := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		name := f.Name
		mode := f.Mode()
		if strings.HasSuffix(name, "/") && (mode.IsDir() || f.UncompressedSize64 == 0) {
			if err := checkEntryName(strings.TrimSuffix(name, "/")); err != nil {
				return nil, err
			}
			continue
		}
		if err := checkEntryName(name); err != nil {
			return nil, err
		}
		if !mode.IsRegular() {
			return nil, &UnsafeError{Path: name, Reason: "zip entry is not a regular file (" + mode.Type().String() + ")"}
		}
		if seen[name] {
			return nil, &UnsafeError{Path: name, Reason: "duplicate zip entry"}
		}
		seen[name] = true
		if f.UncompressedSize64 > 1<<62 {
			return nil, &UnsafeError{Path: name, Reason: "impossible size"}
		}
		if ex, byDefault := ig.match(name); ex {
			if byDefault {
				t.excluded = append(t.excluded, name)
			}
			continue
		}
		t.items = append(t.items, item{name: name, mode: normMode(mode), size: int64(f.UncompressedSize64), zf: f})
	}
	return t, nil
}

// finish adds the Form's extra files (which win over source files of the
// same name), sorts the items and checks the tree is well formed.
func (t *tree) finish(extra map[string][]byte) error {
	if len(extra) > 0 {
		t.items = slices.DeleteFunc(t.items, func(it item) bool { _, ok := extra[it.name]; return ok })
		for name, data := range extra {
			if err := checkEntryName(name); err != nil {
				return fmt.Errorf("bundle: Form.Extra: %w", err)
			}
			mode := fs.FileMode(0o644)
			if bytes.HasPrefix(data, []byte("#!")) {
				mode = 0o755
			}
			if data == nil {
				data = []byte{}
			}
			t.items = append(t.items, item{name: name, mode: mode, size: int64(len(data)), data: data})
		}
	}
	slices.SortFunc(t.items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	slices.Sort(t.excluded)
	names := make([]string, len(t.items))
	for i := range t.items {
		names[i] = t.items[i].name
		if t.items[i].path != "" {
			if err := checkEntryName(names[i]); err != nil {
				return err
			}
		}
		if i > 0 && names[i] == names[i-1] {
			return &UnsafeError{Path: names[i], Reason: "duplicate file name"}
		}
	}
	return checkTree(names)
}
