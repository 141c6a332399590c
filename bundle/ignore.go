package bundle

import (
	"slices"
	"strings"
	"sync"

	"github.com/bmatcuk/doublestar/v4"
)

// IgnoreFile is the name of the ignore file read from a source's root. It
// uses gitignore syntax; a "!pattern" line re-includes what a default rule
// (DefaultIgnore) left out. As in git, a file inside an excluded directory
// cannot be re-included: re-include the directory ("!.aws/") first.
const IgnoreFile = ".updraftignore"

// DefaultIgnore returns the safe default ignore rules, applied to every
// source before the rules of its IgnoreFile: version control metadata,
// dotenv files, private keys and cloud or tool credential files. They
// match whatever the case of the path (".ENV", "Server.PEM", "ID_RSA")
// and at any depth. Paths they exclude are reported in
// Bundle.DefaultExcluded. Generated Form.Extra files are never ignored.
func DefaultIgnore() []string { return slices.Clone(defaultIgnore) }

// defaultIgnore is lower case: it is matched against the lower-cased path.
// Rules with a slash in the middle start with "**/" so that they match at
// any depth, as the others do.
var defaultIgnore = []string{
	".git/",
	".hg/",
	".svn/",
	".env*",
	"*.pem",
	"*.key",
	"*.p12",
	"*.pfx",
	"*.ppk",
	"*.jks",
	"*.keystore",
	"id_rsa*",
	"id_dsa*",
	"id_ecdsa*",
	"id_ed25519*",
	".ssh/",
	".gnupg/",
	".aws/",
	".azure/",
	".gcloud/",
	"**/.config/gcloud/",
	"**/.docker/config.json",
	"**/.kube/config",
	".npmrc",
	".pypirc",
	".netrc",
	".pgpass",
	".htpasswd",
	".vault-token",
	".git-credentials",
	"credentials",
	"credentials.json",
	"application_default_credentials.json",
	"*.tfstate",
	"*.tfstate.backup",
	"*.tfvars",
	"*.tfvars.json",
}

// rule is one ignore line, with git's meaning (gitignore(5)):
//
//   - a trailing "/" makes it match directories only;
//   - a "/" at the start or in the middle anchors it at the root, and it
//     is matched against the whole path; otherwise against the last
//     element, at any depth;
//   - "*", "?" and "[...]" (also "[!...]" and "[[:alpha:]]") match within one path element,
//     "**/", "/**/" and "/**" any number of directories, "\" escapes.
//
// The glob itself is matched by doublestar, with braces escaped (git has
// no alternatives; see toDoublestar) and a trailing "/**" (everything inside, not the
// directory itself) written "/**/*".
type rule struct {
	glob     string
	negate   bool
	dirOnly  bool
	anchored bool // matched against the whole path, not its last element
	user     bool // from the IgnoreFile, not DefaultIgnore
	fold     bool // matched against the lower-cased path (DefaultIgnore)
	// literal is a substring every path the rule matches contains: a cheap
	// pre-test that skips the matcher for almost every path.
	literal string
}

// ignorer applies DefaultIgnore followed by a source's own rules, with
// gitignore's last-match-wins semantics.
type ignorer struct{ rules []rule }

// defaultRules are DefaultIgnore compiled once.
var defaultRules = sync.OnceValue(func() []rule {
	var ig ignorer
	for _, l := range defaultIgnore {
		ig.add(l, false)
	}
	for i := range ig.rules {
		ig.rules[i].fold = true
	}
	return ig.rules
})

func newIgnorer(userFile []byte) *ignorer {
	ig := &ignorer{rules: slices.Clip(defaultRules())}
	for _, l := range strings.Split(string(userFile), "\n") {
		ig.add(l, true)
	}
	return ig
}

// add compiles one line of ignore rules as git reads it: blank lines and
// "#" comments are skipped, unescaped trailing spaces dropped (leading
// ones kept), a leading "!" negates, and "\!" or "\#" start a literal.
func (ig *ignorer) add(line string, user bool) {
	t := trimTrailingSpaces(strings.TrimSuffix(line, "\r"))
	if t == "" || t[0] == '#' {
		return
	}
	r := rule{user: user}
	if t[0] == '!' {
		r.negate, t = true, t[1:]
	}
	if strings.HasSuffix(t, "/") {
		r.dirOnly, t = true, strings.TrimSuffix(t, "/")
	}
	if t == "" {
		return
	}
	if strings.Contains(t, "/") {
		r.anchored, t = true, strings.TrimPrefix(t, "/")
		if t == "" {
			return
		}
	}
	g := toDoublestar(t)
	if strings.HasSuffix(g, "/**") {
		g += "/*"
	}
	if !doublestar.ValidatePattern(g) {
		return // git matches nothing with a malformed pattern either
	}
	r.glob = g
	r.literal = longestLiteral(t)
	ig.rules = append(ig.rules, r)
}

// trimTrailingSpaces drops the trailing spaces of a line that no
// backslash escapes.
func trimTrailingSpaces(s string) string {
	end := len(s)
	for end > 0 && s[end-1] == ' ' {
		// Count the backslashes before this space: an odd number escapes it.
		n := 0
		for i := end - 2; i >= 0 && s[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		end--
	}
	return s[:end]
}

// toDoublestar writes a git glob in doublestar's syntax: "{", "}" and ","
// are literal in git, so is a "]" that opens a bracket expression
// ("[]x]", "[!]x]"), and POSIX classes ("[[:digit:]]") are spelled out
// as the ASCII ranges git gives them.
func toDoublestar(p string) string {
	if !strings.ContainsAny(p, "{},[") {
		return p
	}
	var sb strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			sb.WriteByte(c)
			if i+1 < len(p) {
				i++
				sb.WriteByte(p[i])
			}
		case '{', '}', ',':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case '[':
			i = bracket(&sb, p, i)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// posixClass is a POSIX character class as ranges of a bracket
// expression, in the C locale git matches bytes in. "/" is left out: it
// never is in a path element, and doublestar would split the class at it;
// "!" is escaped, so that it does not negate a class it starts.
func posixClass(name string) (string, bool) {
	switch name {
	case "alnum":
		return "a-zA-Z0-9", true
	case "alpha":
		return "a-zA-Z", true
	case "blank":
		return " \t", true
	case "cntrl":
		return "\x00-\x1f\x7f", true
	case "digit":
		return "0-9", true
	case "graph":
		return "\\!-.0-~", true
	case "lower":
		return "a-z", true
	case "print":
		return " -.0-~", true
	case "punct":
		return "\\!-.:-@\\[-`{-~", true
	case "space":
		return " \t\n\v\f\r", true
	case "upper":
		return "A-Z", true
	case "xdigit":
		return "0-9A-Fa-f", true
	}
	return "", false
}

// bracket writes the bracket expression that starts at p[i] ("[") and
// returns the index of its last byte; an unclosed one is written as it
// is (doublestar then refuses the pattern, and git matches nothing).
func bracket(sb *strings.Builder, p string, i int) int {
	start := i
	var cls strings.Builder
	cls.WriteByte('[')
	i++
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		cls.WriteByte(p[i])
		i++
	}
	if i < len(p) && p[i] == ']' {
		cls.WriteString(`\]`)
		i++
	}
	for ; i < len(p); i++ {
		switch c := p[i]; {
		case c == ']':
			cls.WriteByte(']')
			sb.WriteString(cls.String())
			return i
		case c == '\\' && i+1 < len(p):
			cls.WriteByte(c)
			i++
			cls.WriteByte(p[i])
		case c == '[' && strings.HasPrefix(p[i:], "[:"):
			if end := strings.Index(p[i+2:], ":]"); end >= 0 {
				if r, ok := posixClass(p[i+2 : i+2+end]); ok {
					cls.WriteString(r)
					i += 2 + end + 1
					continue
				}
			}
			cls.WriteString(`\[`)
		case c == '{' || c == '}' || c == ',' || c == '[':
			cls.WriteByte('\\')
			cls.WriteByte(c)
		default:
			cls.WriteByte(c)
		}
	}
	sb.WriteString(p[start:])
	return len(p) - 1
}

// longestLiteral is the longest run of characters the pattern matches
// only literally: outside bracket expressions, not escaped, no wildcard
// and no slash.
func longestLiteral(pat string) string {
	best, start := "", -1
	flush := func(i int) {
		if start >= 0 && i-start > len(best) {
			best = pat[start:i]
		}
		start = -1
	}
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '*', '?', '/':
			flush(i)
		case '\\':
			flush(i)
			i++ // the escaped character is left out too
		case '[':
			flush(i)
			var discard strings.Builder
			i = bracket(&discard, pat, i) // skip the class; an unclosed one to the end
		default:
			if start < 0 {
				start = i
			}
		}
	}
	flush(len(pat))
	return best
}

// matches reports whether the rule matches rel, a clean slash-separated
// path (no trailing slash) that is a directory when dir is set; lower is
// rel lower-cased, for rules that fold case.
func (r *rule) matches(rel, lower string, dir bool) bool {
	if r.dirOnly && !dir {
		return false
	}
	p := rel
	if r.fold {
		p = lower
	}
	return strings.Contains(p, r.literal) && r.globMatch(p)
}

// globMatch matches the glob alone (matches adds the cheap pre-test).
func (r *rule) globMatch(p string) bool {
	if !r.anchored {
		p = p[strings.LastIndexByte(p, '/')+1:]
	}
	ok, _ := doublestar.Match(r.glob, p)
	return ok
}

// match reports whether rel (slash-separated; a directory ends in "/") is
// excluded by a rule that matches rel itself and, if so, whether it is
// excluded only because of a default rule (no rule of the IgnoreFile
// would exclude it on its own). Its parent directories are not looked at:
// a directory walk does not enter an excluded directory; see matchPath.
func (ig *ignorer) match(rel string) (excluded, byDefault bool) {
	dir := strings.HasSuffix(rel, "/")
	rel = strings.TrimSuffix(rel, "/")
	lower := lowerASCIIFast(rel)
	all, user := false, false
	for i := range ig.rules {
		r := &ig.rules[i]
		if !r.matches(rel, lower, dir) {
			continue
		}
		all = !r.negate
		if r.user {
			user = !r.negate
		}
	}
	return all, all && !user
}

// matchPath is match for a path whose parent directories were not walked
// (a name in a Files source or a zip, a symlink's target): as in git, a
// path inside an excluded directory is excluded, whatever the rules say
// about the path itself.
func (ig *ignorer) matchPath(rel string) (excluded, byDefault bool) {
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && i+1 < len(rel) {
			if ex, def := ig.match(rel[:i+1]); ex {
				return ex, def
			}
		}
	}
	return ig.match(rel)
}

// lowerASCIIFast is strings.ToLower without an allocation for the usual
// path that has no upper-case letter.
func lowerASCIIFast(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}
