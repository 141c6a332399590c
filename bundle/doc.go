// Package bundle builds the deployment artifacts of updraft: reproducible
// zip files of a function's code, in the form each target needs.
//
// A Source says where the code is — a directory (Dir), a Go main package
// (GoSource), an existing zip (Zip) or an in-memory tree (Files) — and a
// Form says what the target wants: a Go binary cross-compiled for an
// architecture and named "bootstrap" for AWS Lambda, a source zip for
// Cloud Build, extra generated files for Azure. Build turns the pair into
// a Bundle: the zip, its SHA-256 Digest, sizes, and a Manifest. A Go
// source that is not compiled is zipped from its module root (the nearest
// directory at or above it holding a go.mod), so the zip builds on its own.
//
// # Reproducible
//
// The same files give byte-identical zips, whatever their modification
// times, their location, the order the file system lists them in, or the
// machine: entries are sorted by name, every timestamp is 1980-01-01
// 00:00, modes are 0755 when any executable bit is set and 0644 otherwise,
// there are no directory entries and no extra fields, and the deflate
// encoder and level are fixed. A Go binary is built with CGO_ENABLED=0,
// -trimpath, -buildvcs=false and -ldflags="-s -w -buildid=", so the same
// source and toolchain give the same binary. The Digest is therefore a
// content identity: a deployment whose Digest did not change uploads
// nothing.
//
// # Ignore rules
//
// DefaultIgnore (version control, dotenv files, private keys, credential
// files) applies to every source, whatever the case of the path
// (".ENV", "Server.PEM" and "ID_RSA" are excluded too); the IgnoreFile
// (".updraftignore") at the root of a directory adds rules with gitignore
// syntax, and a "!pattern" there re-includes what a default excluded. A
// Files source may carry its own IgnoreFile; an existing zip gets the
// defaults only. What only the defaults left out is listed in
// Bundle.DefaultExcluded.
//
// The rules mean what they mean to git (gitignore(5)): a pattern with a
// slash at the start or in the middle is anchored at the root, one
// without matches a name at any depth, a trailing slash matches
// directories only, "*", "?" and "[...]" (also "[!...]") match within one
// path element and "**" across them, the last matching rule wins, and a
// file inside an excluded directory stays excluded. The glob is matched by
// github.com/bmatcuk/doublestar; a test compares the results with git
// check-ignore on a generated corpus (POSIX classes such as "[[:digit:]]"
// included). The rules apply to a symlink's target as well as to the
// link: "config.txt -> .env" is excluded like .env.
//
// # Safety
//
// Build refuses, with an *UnsafeError naming the path: symlinks that
// resolve outside the source root (links inside it are followed and stored
// as the files they point to), symlink cycles, devices, fifos and sockets,
// and zip entries whose names could extract outside a directory
// ("../x", "/x", "C:x", backslashes) — in an existing zip as in the names
// of a Files source, Form.Extra and Form.Binary (a *FormError wrapping it).
//
// Files are read as they were scanned: each is opened without following
// symlinks and without blocking (O_NOFOLLOW|O_NONBLOCK on Unix), and its
// fstat must show the regular file, device, inode and size the scan saw.
// A file swapped for a symlink or a fifo after the scan is refused;
// another file in its place is "changed while it was being bundled".
//
// # Existing zips
//
// A Zip source is checked from its central directory before anything is
// inflated: entry names, types, duplicates, and the total of the sizes
// the entries declare against Limits.MaxUnzippedBytes, so a zip bomb is a
// *LimitError at once. Each entry is then read through a reader bounded
// by its declared size; an entry holding more or less than it declares,
// or whose CRC-32 does not match, is a corrupt-entry *UnsafeError.
//
// A zip that is already canonical is kept as the user's bytes, so its
// Digest is the file's SHA-256 (what sha256sum prints, and what a cloud
// reports back): canonical means byte for byte what Build writes for
// those entries and their compressed data — names sorted, every entry
// dated 1980-01-01 00:00 with mode 0644 or 0755, no directory entries,
// extra fields, data descriptors or comments, nothing before, between or
// after the entries — with no default-excluded file and no Form.Extra to
// add. Its entries are still verified. Any other zip is re-zipped, which
// gives the same bytes as a directory of the same files. Build's own
// output is canonical.
//
// # Limits
//
// Options.Limits holds the target's package limits; a bundle over one is
// returned together with an error wrapping *LimitError, which says which
// limit, by how much, and which files are the largest. The one exception
// is an existing zip whose entries declare more than MaxUnzippedBytes: it
// is refused before it is inflated, so there is no bundle to return.
//
// # Speed and memory
//
// Files are read, hashed and deflated in parallel (one worker per CPU,
// github.com/klauspost/compress/flate with pooled encoders) and written in
// name order; a bounded window of files in flight, and spill files for
// large ones, keep memory flat whatever the size of the tree. Files whose
// format is already compressed (images, archives, fonts) are stored, as is
// any file deflate does not shrink.
//
// # Cache
//
// Unless Options.NoCache is set, zips are kept in a content-addressed
// cache: Options.CacheDir, else $UPDRAFT_CACHE_DIR, else the user cache
// directory's updraft/bundles (os.UserCacheDir). An unchanged directory is
// recognised from the stat of its files alone, without reading them; a
// directory whose files were touched or copied is recognised by their
// contents; in both cases the cached zip is returned with Cached set.
// Every hit checks the cached zip's size and CRC-32C against the record
// written with it (about a millisecond per 10 MB); a damaged zip is
// removed and rebuilt.
//
// The cache is bounded by Options.CacheMaxBytes (DefaultCacheMaxBytes, 1
// GiB, when zero; no bound when negative): after each new zip, the least
// recently used files are removed until it is under the bound. A file
// used in the last hour is never removed, so a Bundle.Path handed to a
// caller stays readable for at least an hour; the cache can exceed its
// bound by what was used that recently.
package bundle
