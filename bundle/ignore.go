package bundle

import (
	"bytes"
	"strings"

	gitignore "github.com/sabhiram/go-gitignore"
)

// IgnoreFile is the name of the ignore file read from a source's root. It
// uses gitignore syntax; a "!pattern" line re-includes what a default rule
// (DefaultIgnore) left out.
const IgnoreFile = ".updraftignore"

// DefaultIgnore are the safe default ignore rules, applied to every source
// before the rules of its IgnoreFile: version control metadata, dotenv
// files, private keys and cloud or tool credential files. Paths they
// exclude are reported in Bundle.DefaultExcluded. Generated Form.Extra
// files are never ignored.
var DefaultIgnore = []string{
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

// ignorer applies DefaultIgnore followed by a source's own rules, with
// gitignore's last-match-wins semantics.
type ignorer struct {
	all  *gitignore.GitIgnore // defaults then user rules
	user *gitignore.GitIgnore // user rules alone
}

func newIgnorer(userFile []byte) *ignorer {
	var user []string
	if len(userFile) > 0 {
		user = strings.Split(string(bytes.ReplaceAll(userFile, []byte("\r\n"), []byte("\n"))), "\n")
	}
	all := append(append([]string(nil), DefaultIgnore...), user...)
	return &ignorer{
		all:  gitignore.CompileIgnoreLines(all...),
		user: gitignore.CompileIgnoreLines(user...),
	}
}

// match reports whether rel (slash-separated; a directory ends in "/") is
// excluded and, if so, whether only the default rules exclude it.
func (ig *ignorer) match(rel string) (excluded, byDefault bool) {
	if !ig.all.MatchesPath(rel) {
		return false, false
	}
	return true, !ig.user.MatchesPath(rel)
}
