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
// scheme. The URL names the resource; credentials never go in it.
func (m *URLMux) OpenFunction(ctx context.Context, urlstr string) (*Function, error) {
	u, err := url.Parse(urlstr)
	if err != nil {
		return nil, &Error{Code: InvalidArgument, Target: urlstr, Op: "Open", err: err}
	}
	if u.Scheme == "" {
		return nil, &Error{Code: InvalidArgument, Target: urlstr, Op: "Open",
			err: errors.New("no scheme"), Hint: fmt.Sprintf("write the target as SCHEME://NAME with a scheme among %v", m.Schemes())}
	}
	if u.User != nil {
		return nil, &Error{Code: InvalidArgument, Target: u.Redacted(), Op: "Open",
			err: errors.New("credentials in the URL are not accepted"), Hint: "use the cloud SDK's default credential chain"}
	}
	m.mu.RLock()
	opener := m.openers[u.Scheme]
	m.mu.RUnlock()
	if opener == nil {
		hint := fmt.Sprintf("known schemes: %v", m.Schemes())
		return nil, &Error{Code: InvalidArgument, Target: urlstr, Op: "Open",
			err: fmt.Errorf("no provider registered for scheme %q", u.Scheme), Hint: hint + " (import the adapter package, e.g. _ \"github.com/updraft-dev/updraft/provider/awslambda\")"}
	}
	f, err := opener.OpenFunctionURL(ctx, u)
	if err != nil {
		if Code(err) == Unknown {
			return nil, &Error{Code: InvalidArgument, Target: urlstr, Op: "Open", err: err}
		}
		return nil, err
	}
	return f, nil
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
