package bundle

import (
	"fmt"
	"strconv"
)

// FormError reports a Form that Build cannot honour, such as a
// Form.Binary that is not a plain name inside the zip. Build returns it
// before doing any work; find it with errors.As.
type FormError struct {
	Field  string // "Binary", "GOOS", "GOARCH" or "Extra"
	Value  string // the value given
	Reason string // what is wrong with it, and what to give instead
	// Err is the *UnsafeError behind a name that would not be a safe
	// zip entry ("../x"), or nil.
	Err error
}

// Unwrap returns Err.
func (e *FormError) Unwrap() error { return e.Err }

// Error names the field, its value and the reason.
func (e *FormError) Error() string {
	return fmt.Sprintf("bundle: Form.%s %s: %s", e.Field, strconv.Quote(e.Value), e.Reason)
}

// Validate checks the Form's fields: Binary (default "bootstrap") must be
// a file name or a clean relative slash-separated path, the same rules as
// any zip entry name, since it is one and the binary is written under it
// in a scratch directory; GOOS and GOARCH, when set, are Go platform names
// (lower-case letters and digits). Build calls it first.
func (f Form) Validate() error {
	if f.Binary != "" {
		if err := checkEntryName(f.Binary); err != nil {
			return &FormError{Field: "Binary", Value: f.Binary, Err: err,
				Reason: err.(*UnsafeError).Reason + `: want a file name such as "bootstrap", or a relative path inside the zip`}
		}
	}
	for _, p := range [...]struct{ field, v string }{{"GOOS", f.GOOS}, {"GOARCH", f.GOARCH}} {
		for _, c := range p.v {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
				return &FormError{Field: p.field, Value: p.v, Reason: "not a Go platform name (see go tool dist list)"}
			}
		}
	}
	for name := range f.Extra {
		if err := checkEntryName(name); err != nil {
			return &FormError{Field: "Extra", Value: name, Reason: err.(*UnsafeError).Reason, Err: err}
		}
	}
	return nil
}
