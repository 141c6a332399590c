package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
)

// Build builds src into a reproducible zip in the Form opts asks for,
// checks it against opts.Limits and returns it. A nil opts means the
// defaults: a source zip (no Go build), no limits, the default cache dir.
func Build(ctx context.Context, src Source, opts *Options) (*Bundle, error) {
	if opts == nil {
		opts = &Options{}
	}
	return build(ctx, src, opts)
}

// Bytes returns the zip bytes: the in-memory zip for a NoCache bundle,
// the file at Path otherwise.
func (b *Bundle) Bytes() ([]byte, error) {
	if b.data != nil || b.Path == "" {
		if b.data == nil {
			return nil, errors.New("bundle: no zip data")
		}
		return b.data, nil
	}
	return os.ReadFile(b.Path)
}

func (b *Bundle) open() (io.ReadCloser, error) {
	if b.data != nil || b.Path == "" {
		if b.data == nil {
			return nil, errors.New("bundle: no zip data")
		}
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
	return os.Open(b.Path)
}
