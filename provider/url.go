package provider

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"

	"github.com/hashicorp/go-multierror"
)

// FunctionURLOpener opens a function from a URL. Adapters implement it and
// register it with a URLMux for their scheme.
type FunctionURLOpener interface {
	OpenFunctionURL(ctx context.Context, u *url.URL) (*Function, error)
}

// URLMux maps URL schemes to openers. The zero value is ready to use.
type URLMux struct {
	mu      sync.RWMutex
	openers map[string]FunctionURLOpener
}

// RegisterFunction registers opener for scheme. It panics if scheme is
// already registered, like sql.Register.
func (m *URLMux) RegisterFunction(scheme string, opener FunctionURLOpener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.openers == nil {
		m.openers = map[string]FunctionURLOpener{}
	}
	if _, dup := m.openers[scheme]; dup {
		panic(fmt.Sprintf("provider: scheme %q registered twice", scheme))
	}
	m.openers[scheme] = opener
}

// Schemes lists the registered schemes, sorted.
func (m *URLMux) Schemes() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.openers))
	for s := range m.openers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// ValidFunctionScheme reports whether scheme is registered.
func (m *URLMux) ValidFunctionScheme(scheme string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.openers[scheme]
	return ok
}

// OpenFunction opens the function named by urlstr with the opener of its
// scheme. The URL names the resource; credentials never go in it. Every
// error names the URL through RedactURL, and the opener's error has the
// URL's credentials scrubbed from its text as well.
func (m *URLMux) OpenFunction(ctx context.Context, urlstr string) (*Function, error) {
	target := RedactURL(urlstr)
	fail := func(code ErrorCode, hint, format string, args ...any) error {
		return &Error{Code: code, Target: target, Op: "Open", Hint: hint, err: fmt.Errorf(format, args...)}
	}
	u, err := url.Parse(urlstr)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err // its text without the URL, which ue repeats
		}
		return nil, fail(InvalidArgument, "write the target as SCHEME://NAME?PARAM=VALUE, with '%' only in %XX escapes",
			"the URL does not parse: %s", scrubURL(cause.Error(), urlstr))
	}
	if u.User != nil {
		return nil, fail(InvalidArgument, "use the cloud SDK's default credential chain", "credentials in the URL are not accepted")
	}
	if u.Scheme == "" {
		return nil, fail(InvalidArgument, fmt.Sprintf("write the target as SCHEME://NAME with a scheme among %v", m.Schemes()), "the URL has no scheme")
	}
	m.mu.RLock()
	opener := m.openers[u.Scheme]
	m.mu.RUnlock()
	if opener == nil {
		return nil, fail(InvalidArgument, fmt.Sprintf("known schemes: %v (import the adapter package, e.g. _ \"github.com/updraft-dev/updraft/provider/awslambda\")", m.Schemes()),
			"no provider registered for scheme %q", u.Scheme)
	}
	f, err := opener.OpenFunctionURL(ctx, u)
	if err != nil {
		return nil, openError(target, urlstr, err)
	}
	return f, nil
}

// openError is the error of an opener that failed on urlstr: InvalidArgument
// unless it has a code, naming the redacted URL once (an *Error the
// opener made gives its code, hint and cause, not its target), with the
// URL's credentials scrubbed from every text.
func openError(target, urlstr string, err error) error {
	code, hint, cause := Code(err), "", err
	if pe, ok := err.(*Error); ok {
		hint, cause = pe.Hint, pe.err
	}
	if code == Unknown {
		code = InvalidArgument
	}
	return &Error{Code: code, Target: target, Op: "Open", Hint: scrubURL(hint, urlstr), err: scrubError(cause, urlstr)}
}

// The default mux is the only package-level state: adapters register
// their scheme on it in init.
var defaultURLMux = &URLMux{}

// DefaultURLMux returns the URLMux used by Open and OpenAll.
func DefaultURLMux() *URLMux { return defaultURLMux }

// Open opens the function named by urlstr, such as
// "awslambda://hello?region=eu-west-1" or "local://hello".
func Open(ctx context.Context, urlstr string) (*Function, error) {
	return defaultURLMux.OpenFunction(ctx, urlstr)
}

// OpenAll opens every URL. If any fails it closes those it opened and
// returns all failures together.
func OpenAll(ctx context.Context, urls ...string) ([]*Function, error) {
	var errs *multierror.Error
	fns := make([]*Function, 0, len(urls))
	for _, u := range urls {
		f, err := Open(ctx, u)
		if err != nil {
			errs = multierror.Append(errs, err)
			continue
		}
		fns = append(fns, f)
	}
	if err := errs.ErrorOrNil(); err != nil {
		for _, f := range fns {
			f.Close()
		}
		return nil, err
	}
	return fns, nil
}
