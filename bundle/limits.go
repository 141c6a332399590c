package bundle

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Names of the limits a LimitError reports.
const (
	LimitZip      = "compressed" // Limits.MaxZipBytes
	LimitUnzipped = "unzipped"   // Limits.MaxUnzippedBytes
)

// LimitError reports a bundle over one of its target's size limits.
// Build returns it wrapped; find it with errors.As.
type LimitError struct {
	Limit   string  // LimitZip or LimitUnzipped
	Max     int64   // the limit in bytes
	Actual  int64   // the bundle's size in bytes
	Largest []Entry // the largest files, largest first (at most 5)
	Target  string  // Limits.Target ("" when unnamed)
}

// Error says which limit, by how much, and lists the largest files.
func (e *LimitError) Error() string {
	target := e.Target
	if target == "" {
		target = "the target"
	}
	allows := "allows " + formatMB(e.Max)
	if e.Limit == LimitZip {
		allows += " for direct upload"
	} else {
		allows += " " + e.Limit
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "bundle is %s %s: %s %s (over by %s)", formatMB(e.Actual), e.Limit, target, allows, formatMB(e.Actual-e.Max))
	if len(e.Largest) > 0 {
		sb.WriteString("; largest files: ")
		for i, l := range e.Largest {
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "%s (%s)", l.Name, formatMB(l.Size))
		}
	}
	return sb.String()
}

// formatMB formats n bytes in MB of 2^20 bytes, as the clouds count
// their limits ("50 MB", "61.2 MB"); sizes under 0.1 MB in KB or bytes.
func formatMB(n int64) string {
	unit, div := " MB", float64(1<<20)
	switch {
	case n == 1:
		return "1 byte"
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < 1<<20/10:
		unit, div = " KB", 1<<10
	}
	s := strconv.FormatFloat(float64(n)/div, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + unit
}

func checkLimits(b *Bundle, l Limits) error {
	check := func(limit string, maxBytes, actual int64) error {
		if maxBytes <= 0 || actual <= maxBytes {
			return nil
		}
		largest := slices.Clone(b.Manifest)
		slices.SortStableFunc(largest, func(x, y Entry) int { return cmp.Compare(y.Size, x.Size) })
		return &LimitError{Target: l.Target, Limit: limit, Max: maxBytes, Actual: actual, Largest: largest[:min(5, len(largest))]}
	}
	if err := check(LimitZip, l.MaxZipBytes, b.Size); err != nil {
		return err
	}
	return check(LimitUnzipped, l.MaxUnzippedBytes, b.UnzippedSize)
}
