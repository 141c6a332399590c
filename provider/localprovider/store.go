package localprovider

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// metaVersion is the format version of function.json.
const metaVersion = 1

// fnMeta is one function's persisted metadata: DIR/functions/NAME/function.json.
// The model is the control plane's; its triggers are stored encoded.
type fnMeta struct {
	Version int `json:"version"`
	// Gen counts saves, so a stale read never overrides a newer one.
	Gen int64 `json:"generation"`
	controlplane.Function
	Stored []storedTrigger `json:"triggers,omitempty"`
}

type storedTrigger struct {
	Kind trigger.Kind    `json:"kind"`
	Key  string          `json:"key"`
	Spec json.RawMessage `json:"spec"`
}

func newETag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// decodeTriggers decodes stored triggers, by key.
func decodeTriggers(stored []storedTrigger) (map[string]trigger.Trigger, error) {
	out := make(map[string]trigger.Trigger, len(stored))
	for _, st := range stored {
		var t trigger.Trigger
		var err error
		switch st.Kind {
		case trigger.KindHTTP:
			t, err = decodeTrigger[trigger.HTTP](st.Spec)
		case trigger.KindSchedule:
			t, err = decodeTrigger[trigger.Schedule](st.Spec)
		case trigger.KindQueue:
			t, err = decodeTrigger[trigger.Queue](st.Spec)
		case trigger.KindStream:
			t, err = decodeTrigger[trigger.Stream](st.Spec)
		case trigger.KindStorage:
			t, err = decodeTrigger[trigger.Storage](st.Spec)
		default:
			err = fmt.Errorf("trigger %q has kind %q, which local does not run", st.Key, st.Kind)
		}
		if err != nil {
			return nil, err
		}
		t = trigger.Normalize(t)
		out[t.TriggerKey()] = t
	}
	return out, nil
}

func decodeTrigger[T trigger.Trigger](b []byte) (trigger.Trigger, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

func storeTriggers(ts []trigger.Trigger) ([]storedTrigger, error) {
	out := make([]storedTrigger, 0, len(ts))
	for _, t := range ts {
		if err := checkLocalSource(t); err != nil {
			return nil, err
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		out = append(out, storedTrigger{Kind: t.Kind(), Key: t.TriggerKey(), Spec: b})
	}
	return out, nil
}

// fnDir is the directory of function name.
func (h *Host) fnDir(name string) string { return filepath.Join(h.dir, "functions", name) }

// codeDir is where the bundle with digest is unpacked. Code is shared by
// every function of the state directory: the same bundle is unpacked once.
func (h *Host) codeDir(digest string) string {
	return filepath.Join(h.dir, "code", strings.TrimPrefix(digest, "sha256:"))
}

// loadMeta reads function name's metadata; nil, nil when it does not exist.
func (h *Host) loadMeta(name string) (*fnMeta, error) {
	b, err := os.ReadFile(filepath.Join(h.fnDir(name), "function.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, driver.NewError(driver.Internal, fmt.Sprintf("reading the metadata of %s: %v", name, err))
	}
	var m fnMeta
	err = json.Unmarshal(b, &m)
	if err == nil && m.Version > metaVersion {
		return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("metadata of %s was written by a newer updraft (format %d): upgrade updraft", name, m.Version))
	}
	if err == nil {
		err = m.validate(name)
	}
	if err != nil {
		return nil, driver.NewError(driver.Internal, fmt.Sprintf("metadata of %s in %s is corrupt: %v (delete the function's directory to start over)", name, h.fnDir(name), err))
	}
	if m.Routes == nil {
		m.Routes = map[string]*controlplane.Route{}
	}
	return &m, nil
}

// validate checks what the rest of the package relies on in decoded
// metadata, so that a file that is valid JSON but not what updraft wrote
// (a null revision or route, a duplicate revision id, a traffic split
// over 100%) is refused here, as a truncated file is, and nowhere else
// needs to check.
func (m *fnMeta) validate(name string) error {
	if m.Name != name {
		return fmt.Errorf("it names function %q", m.Name)
	}
	seen := make(map[string]bool, len(m.Revisions))
	for i, r := range m.Revisions {
		switch {
		case r == nil:
			return fmt.Errorf("revision #%d is null", i+1)
		case r.ID == "":
			return fmt.Errorf("revision #%d has no id", i+1)
		case seen[r.ID]:
			return fmt.Errorf("revision %s appears twice", r.ID)
		}
		if err := checkEntrypoint(r.Config.Entrypoint); err != nil {
			return fmt.Errorf("revision %s: %w", r.ID, err)
		}
		seen[r.ID] = true
	}
	if err := checkEntrypoint(m.Config.Entrypoint); err != nil {
		return err
	}
	for k, r := range m.Routes {
		switch {
		case r == nil:
			return fmt.Errorf("route %q is null", k)
		case k == "":
			return errors.New("a route has no name")
		case r.Traffic.CandidatePercent < 0 || r.Traffic.CandidatePercent > 100:
			return fmt.Errorf("route %s sends %d%% to its candidate", k, r.Traffic.CandidatePercent)
		case r.Provisioned < 0:
			return fmt.Errorf("route %s has provisioned concurrency %d", k, r.Provisioned)
		}
	}
	ts, err := decodeTriggers(m.Stored)
	m.Triggers = ts
	return err
}

// checkEntrypoint refuses an entrypoint that is not a path inside the
// code: absolute, or climbing out with "..".
func checkEntrypoint(e string) error {
	if e == "" {
		return nil
	}
	c := path.Clean(strings.ReplaceAll(e, "\\", "/"))
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || filepath.IsAbs(e) || filepath.VolumeName(e) != "" {
		return fmt.Errorf("entrypoint %q is outside the code: give a path relative to the bundle's root, such as \"bootstrap\" or \"bin/server\"", e)
	}
	return nil
}

// saveMeta writes m atomically: a temporary file renamed over the old one.
func (h *Host) saveMeta(m *fnMeta) error {
	st, err := storeTriggers(m.TriggerList())
	if err != nil {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("encoding the triggers of %s: %v", m.Name, err))
	}
	m.Version, m.Stored = metaVersion, st
	m.Gen++
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return driver.NewError(driver.Internal, fmt.Sprintf("encoding the metadata of %s: %v", m.Name, err))
	}
	dir := h.fnDir(m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return driver.NewError(driver.Internal, fmt.Sprintf("creating %s: %v", dir, err))
	}
	if err := writeFileAtomic(filepath.Join(dir, "function.json"), b); err != nil {
		return driver.NewError(driver.Internal, fmt.Sprintf("writing the metadata of %s: %v", m.Name, err))
	}
	return nil
}

func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// unpack extracts b into the function's code directory for its digest,
// unless it is there already, and returns the directory. The entrypoint
// is made executable, as Lambda's bootstrap must be.
func (h *Host) unpack(b *bundle.Bundle, entry string) (string, error) {
	dst := h.codeDir(b.Digest)
	if _, err := os.Stat(filepath.Join(dst, ".complete")); err == nil {
		return dst, nil
	}
	data, err := b.Bytes()
	if err != nil {
		return "", driver.NewError(driver.Internal, fmt.Sprintf("reading bundle %s: %v", b.Digest, err))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("bundle %s is not a zip: %v", b.Digest, err))
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", driver.NewError(driver.Internal, fmt.Sprintf("creating %s: %v", parent, err))
	}
	tmp, err := os.MkdirTemp(parent, ".unpack-*")
	if err != nil {
		return "", driver.NewError(driver.Internal, fmt.Sprintf("unpacking bundle: %v", err))
	}
	if err := extract(zr, tmp, entry); err != nil {
		os.RemoveAll(tmp)
		return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("unpacking bundle %s: %v", b.Digest, err))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		os.RemoveAll(tmp)
		return "", driver.NewError(driver.Internal, fmt.Sprintf("unpacking bundle: %v", err))
	}
	os.RemoveAll(dst) // a partial directory left by a crash
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(dst, ".complete")); serr == nil {
			return dst, nil // unpacked concurrently by another process
		}
		return "", driver.NewError(driver.Internal, fmt.Sprintf("unpacking bundle: %v", err))
	}
	return dst, nil
}

func extract(zr *zip.Reader, dir, entry string) error {
	for _, f := range zr.File {
		name := path.Clean(f.Name)
		if name == "." || strings.HasPrefix(name, "../") || name == ".." || path.IsAbs(name) || strings.Contains(f.Name, "\\") {
			return fmt.Errorf("unsafe path %q in bundle", f.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(f.Name, "/") || f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("symlink %q in bundle is not supported", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if f.Mode()&0o111 != 0 || name == entry {
			mode = 0o755
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			rc.Close()
			return err
		}
		_, err = io.Copy(out, rc)
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// gcCode removes unpacked code that no function of the state directory
// references any more (by its live config or a revision). Callers hold
// the control lock of one function; a bundle being unpacked for another
// is in a ".unpack-" directory and left alone.
func (h *Host) gcCode() {
	keep := map[string]bool{}
	fns, _ := os.ReadDir(filepath.Join(h.dir, "functions"))
	for _, e := range fns {
		if !e.IsDir() {
			continue
		}
		m, err := h.loadMeta(e.Name())
		if err != nil {
			return // unsure what is referenced: keep everything
		}
		if m == nil {
			continue
		}
		keep[strings.TrimPrefix(m.Config.CodeDigest, "sha256:")] = true
		for _, r := range m.Revisions {
			keep[strings.TrimPrefix(r.CodeDigest, "sha256:")] = true
		}
	}
	dir := filepath.Join(h.dir, "code")
	ents, _ := os.ReadDir(dir)
	recent := time.Now().Add(-time.Minute)
	for _, e := range ents {
		if keep[e.Name()] || strings.HasPrefix(e.Name(), ".unpack-") {
			continue
		}
		// Code unpacked in the last minute may belong to an Apply that
		// has not saved its metadata yet.
		if fi, err := os.Stat(filepath.Join(dir, e.Name(), ".complete")); err == nil && fi.ModTime().After(recent) {
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// entrypoint is the executable a revision runs, relative to its code dir.
func entrypoint(c driver.Config) string {
	if c.Entrypoint != "" {
		return path.Clean(c.Entrypoint)
	}
	return "bootstrap"
}

// modTime is function.json's modification time and size, to notice
// changes made by other processes.
func (h *Host) metaStamp(name string) (time.Time, int64) {
	fi, err := os.Stat(filepath.Join(h.fnDir(name), "function.json"))
	if err != nil {
		return time.Time{}, -1
	}
	return fi.ModTime(), fi.Size()
}

// checkLocalSource refuses an event trigger whose source names no local
// queue, stream or bucket, before anything is applied.
func checkLocalSource(t trigger.Trigger) error {
	var err error
	switch v := t.(type) {
	case trigger.Queue:
		err = validQueueName(QueueName(v.Source))
	case trigger.Stream:
		err = validStreamName(StreamName(v.Source))
	case trigger.Storage:
		err = validBucketName(BucketName(v.Bucket))
	}
	if err != nil {
		return driver.Wrap(driver.InvalidArgument, err, fmt.Sprintf("%s trigger %s: local:// names its %s by the source's last element", t.Kind(), t.TriggerKey(), t.Kind()))
	}
	return nil
}
