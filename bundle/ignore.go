package bundle

import (
	"slices"
	"strings"
	"sync"

	gitignore "github.com/sabhiram/go-gitignore"
)

// IgnoreFile is the name of the ignore file read from a source's root. It
// uses gitignore syntax; a "!pattern" line re-includes what a default rule
// (DefaultIgnore) left out. As in git, a file inside an excluded directory
// cannot be re-included: re-include the directory ("!.aws/") first.
const IgnoreFile = ".updraftignore"

// DefaultIgnore returns the safe default ignore rules, applied to every
// source before the rules of its IgnoreFile: version control metadata,
// dotenv files, private keys and cloud or tool credential files. Paths
// they exclude are reported in Bundle.DefaultExcluded. Generated
// Form.Extra files are never ignored.
func DefaultIgnore() []string { return slices.Clone(defaultIgnore) }

var defaultIgnore = []string{
	".git/",
	".hg/",
	".svn/",
	".env*",
	"*.pem",
	"*.key",
	"*.p12",
	"*.pfx",
	"*.jks",
	"*.keystore",
	"id_rsa*",
	"id_dsa*",
	"id_ecdsa*",
	"id_ed25519*",
	".ssh/",
	".aws/",
	".azure/",
	".gcloud/",
	".config/gcloud/",
	".docker/config.json",
	".kube/config",
	".npmrc",
	".pypirc",
	".netrc",
	".git-credentials",
	"credentials",
	"credentials.json",
	"application_default_credentials.json",
	"*.tfstate",
	"*.tfstate.backup",
}

// rule is one ignore line. The pattern is compiled by go-gitignore (which
// defines the matching semantics); literal is a substring every path the
// pattern matches must contain, a cheap pre-test that skips the regexp for
// almost every path.
type rule struct {
	match   *gitignore.GitIgnore
	negate  bool
	user    bool // from the IgnoreFile, not DefaultIgnore
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
	return ig.rules
})

func newIgnorer(userFile []byte) *ignorer {
	ig := &ignorer{rules: slices.Clip(defaultRules())}
	for _, l := range strings.Split(string(userFile), "\n") {
		ig.add(l, true)
	}
	return ig
}

// add compiles one line of ignore rules. A leading "\!" or "\#" is an
// escaped literal; go-gitignore keeps the backslash as a regexp escape.
func (ig *ignorer) add(line string, user bool) {
	t := strings.Trim(strings.TrimRight(line, "\r"), " ")
	if t == "" || t[0] == '#' {
		return
	}
	r := rule{user: user}
	if t[0] == '!' {
		r.negate, t = true, t[1:]
	}
	if t == "" {
		return
	}
	r.match = gitignore.CompileIgnoreLines(t)
	r.literal = longestLiteral(t)
	ig.rules = append(ig.rules, r)
}

// longestLiteral is the longest run of characters that go-gitignore keeps
// literally in its regular expression.
func longestLiteral(pat string) string {
	best, start := "", -1
	for i := 0; i <= len(pat); i++ {
		lit := i < len(pat) && isLiteral(pat[i])
		if lit && start < 0 {
			start = i
		}
		if !lit && start >= 0 {
			if i-start > len(best) {
				best = pat[start:i]
			}
			start = -1
		}
	}
	return best
}

func isLiteral(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '@' || c == ',' || c == '=' || c == '%'
}

// match reports whether rel (slash-separated; a directory ends in "/") is
// excluded and, if so, whether it is excluded only because of a default
// rule (no rule of the IgnoreFile would exclude it on its own).
func (ig *ignorer) match(rel string) (excluded, byDefault bool) {
	all, user := false, false
	for i := range ig.rules {
		r := &ig.rules[i]
		if !strings.Contains(rel, r.literal) || !r.match.MatchesPath(rel) {
			continue
		}
		if r.negate {
			all = false
			if r.user {
				user = false
			}
		} else {
			all = true
			if r.user {
				user = true
			}
		}
	}
	return all, all && !user
}
