package provider

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
)

// Redacted replaces a credential wherever updraft prints a URL.
const Redacted = "[redacted]"

// RedactURL returns rawurl with its credentials replaced by Redacted: the
// user information before an '@' in the authority, and the value of every
// query (or fragment) parameter whose name is a credential's (see
// CredentialParam). It does not need rawurl to parse, so a message about a
// malformed URL can still show it; on a URL without credentials it returns
// rawurl unchanged. Every error and log about a target URL prints it
// through RedactURL.
func RedactURL(rawurl string) string {
	p := splitURL(rawurl)
	var b strings.Builder
	b.WriteString(rawurl[:p.authStart])
	if p.at >= 0 {
		b.WriteString(Redacted)
		b.WriteString(rawurl[p.at:p.authEnd])
	} else {
		b.WriteString(rawurl[p.authStart:p.authEnd])
	}
	rest := rawurl[p.authEnd:]
	for rest != "" {
		// Copy up to and including the next '?', '#', '&' or ';', then
		// the parameter after it, redacted if it is a credential's.
		i := strings.IndexAny(rest, "?#&;")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i+1])
		rest = rest[i+1:]
		j := strings.IndexAny(rest, "#&;")
		if j < 0 {
			j = len(rest)
		}
		b.WriteString(redactParam(rest[:j]))
		rest = rest[j:]
	}
	return b.String()
}

// redactParam redacts the value of one "name=value" parameter if name is
// a credential's.
func redactParam(param string) string {
	name, value, ok := strings.Cut(param, "=")
	if !ok || value == "" || !CredentialParam(unescape(name)) {
		return param
	}
	return name + "=" + Redacted
}

// CredentialParam reports whether a URL query parameter named name holds
// a credential, judging by the name alone (case and '-' versus '_' do not
// matter): token, secret, password, passwd, pwd, pass, key, apikey,
// signature, sig, credential, auth, authorization, sas, code (an Azure
// function key), and any name with token, secret, passw, signature,
// credential or private in it or ending in key, sig or pwd
// (access_token, X-Amz-Signature, api_key). Adapters take no credentials
// in URLs; this is what makes a careless one unprintable.
func CredentialParam(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	switch n {
	case "token", "secret", "password", "passwd", "pwd", "pass", "key", "apikey", "signature", "sig",
		"credential", "credentials", "auth", "authorization", "sas", "code":
		return true
	}
	for _, w := range []string{"token", "secret", "passw", "signature", "credential", "private"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	for _, w := range []string{"key", "sig", "pwd"} {
		if strings.HasSuffix(n, w) {
			return true
		}
	}
	return false
}

// urlParts are offsets into a raw URL: its authority is
// [authStart, authEnd), and at is the offset of the '@' that ends the user
// information in it, or -1.
type urlParts struct{ authStart, authEnd, at int }

// splitURL finds the authority of rawurl without parsing it: after
// "scheme://" or a leading "//", else from the start (so "mem:user:pw@fn"
// and "user:pw@fn" hide everything before the '@'), up to the first '/',
// '?' or '#'.
func splitURL(rawurl string) urlParts {
	start := 0
	if i := schemeLen(rawurl); i > 0 && strings.HasPrefix(rawurl[i:], "://") {
		start = i + 3
	} else if strings.HasPrefix(rawurl, "//") {
		start = 2
	}
	end := len(rawurl)
	if i := strings.IndexAny(rawurl[start:], "/?#"); i >= 0 {
		end = start + i
	}
	return urlParts{authStart: start, authEnd: end, at: lastAt(rawurl, start, end)}
}

func lastAt(s string, start, end int) int {
	if i := strings.LastIndexByte(s[start:end], '@'); i >= 0 {
		return start + i
	}
	return -1
}

// schemeLen is the length of rawurl's scheme (RFC 3986: a letter, then
// letters, digits, '+', '-', '.'), or 0.
func schemeLen(rawurl string) int {
	for i := 0; i < len(rawurl); i++ {
		c := rawurl[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return 0
		}
	}
	return 0
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// urlSecrets lists the credentials in rawurl, raw and unescaped, longest
// first: the user information, its password, and credential parameter
// values. Values under 3 bytes are left out: scrubbing them from text
// would cut words apart, and RedactURL already hides them in the URL.
func urlSecrets(rawurl string) []string {
	var out []string
	add := func(v string) {
		for _, s := range []string{v, unescape(v)} {
			if len(s) >= 3 && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	p := splitURL(rawurl)
	if p.at >= 0 {
		info := rawurl[p.authStart:p.at]
		add(info)
		if _, pw, ok := strings.Cut(info, ":"); ok {
			add(pw)
		}
	}
	for _, param := range strings.FieldsFunc(rawurl[p.authEnd:], func(r rune) bool { return strings.ContainsRune("?#&;", r) }) {
		if name, value, ok := strings.Cut(param, "="); ok && CredentialParam(unescape(name)) {
			add(value)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return out
}

// scrubURL removes rawurl's credentials from text: rawurl itself becomes
// RedactURL(rawurl), and every credential in it becomes Redacted.
func scrubURL(text, rawurl string) string {
	secrets := urlSecrets(rawurl)
	if len(secrets) == 0 {
		return text
	}
	text = strings.ReplaceAll(text, rawurl, RedactURL(rawurl))
	for _, s := range secrets {
		text = strings.ReplaceAll(text, s, Redacted)
	}
	return text
}

// scrubbedError is err with rawurl's credentials removed from its text.
// It unwraps to err, so codes and errors.As still work.
type scrubbedError struct {
	err  error
	text string
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

func scrubError(err error, rawurl string) error {
	if err == nil {
		return nil
	}
	text := scrubURL(err.Error(), rawurl)
	if text == err.Error() {
		return err
	}
	return &scrubbedError{err: err, text: text}
}
