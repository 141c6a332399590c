package bundle

// This file is the contract other packages compile against (provider,
// deploy, the adapters). Its exported names and their meaning are fixed;
// the implementation behind them lives in the other files of the package.

import (
	"io"
	"io/fs"
	"log/slog"
)

// SourceKind says what a Source points at.
type SourceKind int

const (
	// KindNone is the zero Source: no code.
	KindNone SourceKind = iota
	// KindDir is a directory tree zipped as it is (after ignore rules).
	KindDir
	// KindGo is a Go main package: compiled when the Form asks for a
	// binary, zipped as source (with its module files) otherwise.
	KindGo
	// KindZip is an existing zip archive: verified, and kept as it is when
	// already canonical, re-zipped otherwise (see the package doc).
	KindZip
	// KindFiles is an in-memory tree, mostly for tests and generated code.
	KindFiles
	// KindGoFunction is a Go library package written against package
	// function; see GoFunction.
	KindGoFunction
)

// Source is where a function's code comes from. It is a value: build it
// with Dir, GoSource, Zip or Files. The zero Source means "no code".
type Source struct {
	kind  SourceKind
	path  string
	files map[string][]byte
}

// Dir is a directory tree.
func Dir(path string) Source { return Source{kind: KindDir, path: path} }

// GoSource is the directory of a Go main package.
func GoSource(pkgDir string) Source { return Source{kind: KindGo, path: pkgDir} }

// Zip is an existing zip file.
func Zip(path string) Source { return Source{kind: KindZip, path: path} }

// Files is an in-memory tree: slash-separated relative names to contents.
// Names ending in nothing special are regular files with mode 0644; a name
// whose content starts with "#!" is stored executable. The map is copied.
func Files(files map[string][]byte) Source {
	c := make(map[string][]byte, len(files))
	for k, v := range files {
		c[k] = append([]byte(nil), v...)
	}
	return Source{kind: KindFiles, files: c}
}

// Kind reports what the Source points at.
func (s Source) Kind() SourceKind { return s.kind }

// Path is the file system path of a Dir, GoSource or Zip source ("" for Files).
func (s Source) Path() string { return s.path }

// IsZero reports whether s is the zero Source.
func (s Source) IsZero() bool { return s.kind == KindNone }

// Form is the shape of artifact a deployment target needs. Each target asks
// for its own Form; Build builds each (source, form) pair once and caches it.
type Form struct {
	// GoBuild compiles a KindGo source into a static binary
	// (CGO_ENABLED=0, -trimpath, stripped, reproducible). When false a Go
	// source is zipped as source code. Ignored for other kinds.
	GoBuild bool
	// GOOS and GOARCH select the build target; defaults linux and amd64.
	GOOS, GOARCH string
	// Binary is the name the compiled binary gets in the zip; default "bootstrap".
	Binary string
	// Extra holds generated files added at the zip root (for example Azure's
	// host.json). They win over files of the same name in the source.
	Extra map[string][]byte
}

// Limits are a target's package size limits; zero means no limit.
type Limits struct {
	// Target names whose limits these are, for messages ("awslambda").
	Target string
	// MaxZipBytes is the largest compressed archive the target accepts.
	MaxZipBytes int64
	// MaxUnzippedBytes is the largest total of uncompressed file sizes.
	MaxUnzippedBytes int64
}

// Options configure Build. A nil *Options means the defaults.
type Options struct {
	// Form is the artifact shape the target needs.
	Form Form
	// Limits are checked after the build; see LimitError.
	Limits Limits
	// CacheDir holds built zips keyed by content; "" means
	// $UPDRAFT_CACHE_DIR if set, else os.UserCacheDir()/updraft/bundles.
	CacheDir string
	// CacheMaxBytes bounds the cache: after each new zip, the least
	// recently used files are removed until it is under the bound (files
	// used in the last hour are kept whatever the bound). 0 means
	// DefaultCacheMaxBytes (1 GiB); a negative value, no bound.
	CacheMaxBytes int64
	// NoCache disables the cache: the zip is kept in memory only.
	NoCache bool
	// Logger receives debug records (excluded files, cache hits); nil = none.
	Logger *slog.Logger
}

// Entry is one file in a bundle's manifest.
type Entry struct {
	Name   string      // slash-separated path in the zip
	Size   int64       // uncompressed size
	Mode   fs.FileMode // 0644 or 0755
	SHA256 string      // hex digest of the contents
}

// Bundle is a built, immutable, reproducible zip artifact.
type Bundle struct {
	// Digest is "sha256:" + hex SHA-256 of the zip bytes.
	Digest string
	// Size is the zip size in bytes; UnzippedSize the total of file sizes.
	Size, UnzippedSize int64
	// Files is the number of file entries.
	Files int
	// Manifest lists the entries in zip order (sorted by name).
	Manifest []Entry
	// DefaultExcluded lists paths the safe default ignore rules left out.
	DefaultExcluded []string
	// Cached reports that the zip came from the cache unchanged.
	Cached bool
	// Path is the zip on disk ("" when built with NoCache).
	Path string

	data []byte // the zip when NoCache
}

// Open returns a reader over the zip bytes.
func (b *Bundle) Open() (io.ReadCloser, error) { return b.open() }
