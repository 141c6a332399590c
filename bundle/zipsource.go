package bundle

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// zipInput is an existing zip opened for Build.
type zipInput struct {
	path string
	f    *os.File
	size int64
	zr   *zip.Reader
}

func openZip(path string) (*zipInput, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: reading zip: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	var zr *zip.Reader
	if err == nil {
		zr, err = zip.NewReader(f, fi.Size())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("bundle: reading zip %s: %w", path, err)
	}
	return &zipInput{path: path, f: f, size: fi.Size(), zr: zr}, nil
}

func (z *zipInput) Close() error { return z.f.Close() }

// zipTree is the tree of an existing zip, validated entry by entry from
// its central directory, before anything is inflated. Directory entries
// are dropped; symlinks and special files are refused. The declared
// sizes are checked against l.MaxUnzippedBytes here, and every entry is
// later read through a reader bounded by its declared size
// (openZipEntry), so a zip bomb is refused without inflating it.
func zipTree(z *zipInput, l Limits) (*tree, error) {
	ig := newIgnorer(nil)
	t := &tree{}
	seen := make(map[string]bool, len(z.zr.File))
	var total uint64
	for _, f := range z.zr.File {
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
		if f.UncompressedSize64 > 1<<40 {
			return nil, &UnsafeError{Path: name, Reason: fmt.Sprintf("zip entry declares an impossible size (%d bytes)", f.UncompressedSize64)}
		}
		if ex, byDefault := ig.matchPath(name); ex {
			if byDefault {
				t.excluded = append(t.excluded, name)
			}
			continue
		}
		total = min(total+f.UncompressedSize64, 1<<62) // no overflow, whatever the entry count
		t.items = append(t.items, item{name: name, mode: normMode(mode), size: int64(f.UncompressedSize64), zf: f})
	}
	if l.MaxUnzippedBytes > 0 && total > uint64(l.MaxUnzippedBytes) {
		b := &Bundle{UnzippedSize: int64(total)}
		for i := range t.items {
			b.Manifest = append(b.Manifest, Entry{Name: t.items[i].name, Size: t.items[i].size, Mode: t.items[i].mode})
		}
		return nil, fmt.Errorf("bundle: zip %s, by the sizes its entries declare: %w", z.path, checkLimits(b, Limits{Target: l.Target, MaxUnzippedBytes: l.MaxUnzippedBytes}))
	}
	return t, nil
}

// openZipEntry opens an entry of an existing zip for reading its
// contents, which must be exactly what the central directory declares.
func openZipEntry(it *item) (io.ReadCloser, error) {
	rc, err := it.zf.Open()
	if err != nil {
		return nil, corruptEntry(it.name, err)
	}
	return &zipEntryReader{rc: rc, name: it.name, left: it.size, crc: crc32.NewIEEE(), want: it.zf.CRC32}, nil
}

// zipEntryReader reads an entry's contents and fails, with an
// *UnsafeError, as soon as they run past the declared size, or at their
// end unless the size and CRC-32 are the declared ones.
type zipEntryReader struct {
	rc   io.ReadCloser
	name string
	left int64 // declared bytes not read yet
	crc  hash.Hash32
	want uint32
	err  error
}

func (r *zipEntryReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1] // one byte past the end is enough to see a lie
	}
	n, err := r.rc.Read(p)
	// archive/zip itself fails with ErrFormat past the declared size.
	if int64(n) > r.left || errors.Is(err, zip.ErrFormat) && int64(len(p)) > r.left {
		r.err = &UnsafeError{Path: r.name, Reason: "corrupt zip entry: it holds more than its declared size"}
		return 0, r.err
	}
	r.left -= int64(n)
	r.crc.Write(p[:n])
	switch {
	case err == io.EOF && r.left > 0, errors.Is(err, io.ErrUnexpectedEOF):
		r.err = &UnsafeError{Path: r.name, Reason: fmt.Sprintf("corrupt zip entry: it ends %d bytes short of its declared size", r.left)}
	case err == io.EOF && r.crc.Sum32() != r.want:
		r.err = &UnsafeError{Path: r.name, Reason: "corrupt zip entry: CRC-32 mismatch"}
	case err == io.EOF:
		r.err = io.EOF
	case err != nil:
		r.err = corruptEntry(r.name, err)
	default:
		return n, nil
	}
	if r.err == io.EOF {
		return n, io.EOF
	}
	return 0, r.err
}

func (r *zipEntryReader) Close() error { return r.rc.Close() }

func corruptEntry(name string, err error) error {
	switch {
	case errors.Is(err, zip.ErrAlgorithm):
		return &UnsafeError{Path: name, Reason: "zip entry uses an unsupported compression method"}
	case errors.Is(err, zip.ErrChecksum):
		return &UnsafeError{Path: name, Reason: "corrupt zip entry: CRC-32 mismatch"}
	case errors.Is(err, zip.ErrFormat), errors.Is(err, io.ErrUnexpectedEOF):
		return &UnsafeError{Path: name, Reason: "corrupt zip entry: " + err.Error()}
	}
	var ce flate.CorruptInputError
	if errors.As(err, &ce) {
		return &UnsafeError{Path: name, Reason: "corrupt zip entry: " + err.Error()}
	}
	return fmt.Errorf("bundle: reading zip entry %s: %w", name, err)
}

// errNotCanonical stops keepZip at the first byte that differs.
var errNotCanonical = errors.New("bundle: zip is not canonical")

// keepZip reports whether the zip is already exactly what Build would
// write for its entries and their compressed bytes: rewriting them with
// Build's headers (sorted names, 1980-01-01 00:00, modes 0644 or 0755, no
// directory entries, extra fields, data descriptors or comments, nothing
// before, between or after the entries) gives its bytes again, which are
// copied to out as they are compared. The contents are not read here.
func keepZip(ctx context.Context, z *zipInput, items []item, out io.Writer) (bool, error) {
	if len(items) != len(z.zr.File) || z.zr.Comment != "" {
		return false, nil
	}
	cmp := &compareWriter{r: bufio.NewReaderSize(io.NewSectionReader(z.f, 0, z.size), 64<<10), out: out}
	zw := zip.NewWriter(cmp)
	for i := range items {
		it, zf := &items[i], z.zr.File[i]
		if zf != it.zf || zf.Method != zip.Store && zf.Method != zip.Deflate {
			return false, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
		w, err := zw.CreateRaw(header(it, &result{method: zf.Method, crc: zf.CRC32}, int64(zf.CompressedSize64)))
		if err == nil {
			var raw io.Reader
			if raw, err = zf.OpenRaw(); err == nil {
				_, err = io.Copy(w, raw)
			}
		}
		if err != nil {
			if errors.Is(err, errNotCanonical) {
				return false, nil
			}
			return false, corruptEntry(it.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		if errors.Is(err, errNotCanonical) {
			return false, nil
		}
		return false, fmt.Errorf("bundle: %w", err)
	}
	return cmp.n == z.size, nil
}

// compareWriter checks that what is written is what r holds, and passes
// it on to out.
type compareWriter struct {
	r   *bufio.Reader
	out io.Writer
	buf []byte
	n   int64
}

func (c *compareWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); {
		chunk := p[off:min(len(p), off+64<<10)]
		if cap(c.buf) < len(chunk) {
			c.buf = make([]byte, 64<<10)
		}
		b := c.buf[:len(chunk)]
		if _, err := io.ReadFull(c.r, b); err != nil || !bytes.Equal(b, chunk) {
			return off, errNotCanonical
		}
		if _, err := c.out.Write(chunk); err != nil {
			return off, err
		}
		off += len(chunk)
		c.n += int64(len(chunk))
	}
	return len(p), nil
}
