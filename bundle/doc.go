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
// files) applies to every source; the IgnoreFile (".updraftignore") at the
// root of a directory adds rules with gitignore syntax, and a "!pattern"
// there re-includes what a default excluded. A Files source may carry its
// own IgnoreFile; an existing zip gets the defaults only. What only the
// defaults left out is listed in Bundle.DefaultExcluded.
//
// # Safety
//
// Build refuses, with an *UnsafeError naming the path: symlinks that
// resolve outside the source root (links inside it are followed and stored
// as the files they point to), symlink cycles, devices, fifos and sockets,
// and zip entries whose names could extract outside a directory
// ("../x", "/x", "C:x", backslashes) — in an existing zip as in the names
// of a Files source.
//
// # Limits
//
// Options.Limits holds the target's package limits; a bundle over one is
// returned together with an error wrapping *LimitError, which says which
// limit, by how much, and which files are the largest.
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
// Unless Options.NoCache is set, zips are kept in a content-addressed
// cache (Options.CacheDir). An unchanged directory is recognised from the
// stat of its files alone, without reading them; a directory whose files
// were touched or copied is recognised by their contents; in both cases
// the cached zip is returned with Cached set.
package bundle
