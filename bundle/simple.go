package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/flate"
)

// build is the first, serial implementation.
func build(ctx context.Context, src Source, opts *Options) (*Bundle, error) {
	files := map[string][]byte{}
	modes := map[string]fs.FileMode{}
	switch src.kind {
	case KindFiles:
		for k, v := range src.files {
			files[k] = v
			if bytes.HasPrefix(v, []byte("#!")) {
				modes[k] = 0o755
			}
		}
	case KindDir:
		root := src.path
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("bundle: %s: not a regular file", p)
			}
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			files[name] = b
			if info.Mode()&0o111 != 0 {
				modes[name] = 0o755
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("bundle: source kind %d not supported yet", src.kind)
	}
	for k, v := range opts.Form.Extra {
		files[k] = v
	}
	names := make([]string, 0, len(files))
	for k := range files {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	b := &Bundle{}
	for _, name := range names {
		if strings.Contains(name, "..") {
			return nil, fmt.Errorf("bundle: unsafe path %q", name)
		}
		data := files[name]
		mode := fs.FileMode(0o644)
		if modes[name] != 0 {
			mode = 0o755
		}
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, 5)
		fw.Write(data)
		fw.Close()
		fh := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(data),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(len(data)), ModifiedDate: 0x21}
		fh.SetMode(mode)
		w, err := zw.CreateRaw(fh)
		if err != nil {
			return nil, err
		}
		w.Write(comp.Bytes())
		sum := sha256.Sum256(data)
		b.Manifest = append(b.Manifest, Entry{Name: name, Size: int64(len(data)), Mode: mode, SHA256: hex.EncodeToString(sum[:])})
		b.UnzippedSize += int64(len(data))
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b.data = buf.Bytes()
	b.Size = int64(buf.Len())
	b.Files = len(names)
	sum := sha256.Sum256(b.data)
	b.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return b, nil
}
