package bundle

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// UnsafeError reports input that Build refuses to package: a path that
// would escape the archive root, a symlink leaving the source root, a
// special file (device, fifo, socket), or an entry that is both a file and
// a directory. Path names the offending file as the user knows it.
type UnsafeError struct {
	Path   string // offending path (relative to the source root, or a zip entry name)
	Reason string // what is wrong with it
}

// Error names the path and the reason.
func (e *UnsafeError) Error() string {
	p := `"` + e.Path + `"`
	if !printable(e.Path) {
		p = strconv.Quote(e.Path)
	}
	return fmt.Sprintf("bundle: refusing %s: %s", p, e.Reason)
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// checkEntryName validates a slash-separated archive entry name: relative,
// clean, no "..", no backslashes, no drive letters or control characters.
// Accepted names extract inside any destination directory.
func checkEntryName(name string) error {
	bad := func(reason string) error { return &UnsafeError{Path: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty name")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case len(name) >= 2 && name[1] == ':':
		return bad("drive letter in name")
	case len(name) > 0xffff:
		return bad("name too long")
	}
	for rest := name; ; {
		el, more, found := strings.Cut(rest, "/")
		switch el {
		case "..":
			return bad(`path traversal ("..")`)
		case ".", "":
			return bad("name is not clean")
		}
		if err := checkNameElem(el); err != nil {
			return bad(err.Error())
		}
		if !found {
			return nil
		}
		rest = more
	}
}

// checkNameElem validates one element of a name (a file name as a
// directory lists it): valid UTF-8 without backslashes or control
// characters, which unzip tools on some systems would misread.
func checkNameElem(el string) error {
	for i := 0; i < len(el); i++ {
		switch c := el[i]; {
		case c == '\\':
			return errors.New("backslash in name")
		case c < 0x20 || c == 0x7f:
			return errors.New("control character in name")
		case c >= 0x80:
			if !utf8.ValidString(el) {
				return errors.New("name is not valid UTF-8")
			}
		}
	}
	return nil
}

// checkTree rejects a sorted name list in which a name is both a file and
// the parent directory of another file.
func checkTree(sorted []string) error {
	set := make(map[string]struct{}, len(sorted))
	for _, n := range sorted {
		set[n] = struct{}{}
	}
	for _, n := range sorted {
		for i := strings.IndexByte(n, '/'); i >= 0; {
			if _, ok := set[n[:i]]; ok {
				return &UnsafeError{Path: n[:i], Reason: "is both a file and a directory"}
			}
			j := strings.IndexByte(n[i+1:], '/')
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return nil
}
