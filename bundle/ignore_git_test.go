package bundle

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gitCorpusFiles is the tree the ignore corpus is checked on. No name is
// matched by a default rule, so the user rules alone decide.
var gitCorpusFiles = []string{
	"x.c", "x.h", "y.C", "y.cc", "abc", "b", "?q", "!bang", "#hash", "sp ace", "br{a,b}",
	"docs/build/f", "docs/build.txt", "x/docs/build/f", "src/a.js", "src/a.txt",
	"src/sub/c.js", "build/g.txt", "lib/build", "foo/foo/bar", "foo/bar", "foo/baz/bar",
	"a/b/c/d.txt", "a/x.c", "deep/a/b/x.c", "k/m.p", "Q/R.S", "d1/f", "d2/e/f",
	"9lives", "x-1.log", "sp ace2", "[x]", "a]b",
}

// gitCorpusRules are the rule sets every corpus run checks, before the
// generated ones: the cases reported against the old matcher, and the
// idioms that need git's exact semantics.
var gitCorpusRules = []string{
	"*.[pP][eE][mM]\n*.[ch]",
	"x.?",
	"docs/build",
	"*\n!*/\n!*.js",
	"**/foo/bar",
	"[!x].c",
	"d1/\n!d1/f",
	"a/**",
	"a/**/x.c",
	"/x.c",
	"build/",
	"build",
	"\\!bang\n\\#hash",
	"sp\\ ace",
	"b   \nabc\\ ",
	"br{a,b}",
	"*\n!src/\n!src/*.js",
	"foo/*\n!foo/baz/",
	"**/b/**",
	"\\?q",
	"lib/build/",
	"[[:digit:]]*\n[[:upper:]]*",
	"*[[:punct:]]*\n![[:alpha:]]*",
	"[![:alpha:]]*",
	"[[:alpha:][:digit:]]*[[:space:]]*",
	"[[:lower:]]/[[:upper:]].[[:upper:]]",
	"*[[:xdigit:]]\n\\[x]",
	"[[]x]\na[]]b",
	"[[:nope:]]*",
}

// randomRules generates an ignore file of 1 to 3 rules.
func randomRules(rng *rand.Rand) string {
	elems := []string{"*", "**", "?", "*.c", "*.[ch]", "[!x].c", "[a-c]*", "x.?", "build", "docs",
		"foo", "bar", "src", "a", "b*", "*.js", "*.txt", "f", "d*", "e", "[xy].[cC]", "y.C", "?q",
		"\\?q", "b", "sub", "*.?", "[[]*", "[]x]*", "x.[!c]", "[^a]*", "[[:digit:]]*", "*[[:upper:]]*",
		"[![:lower:]]*", "*[[:punct:]]?", "[[:alnum:]-]*"}
	var lines []string
	for range 1 + rng.IntN(3) {
		var sb strings.Builder
		if rng.IntN(4) == 0 {
			sb.WriteByte('!')
		}
		if rng.IntN(5) == 0 {
			sb.WriteByte('/')
		}
		for i := range 1 + rng.IntN(3) {
			if i > 0 {
				sb.WriteByte('/')
			}
			sb.WriteString(elems[rng.IntN(len(elems))])
		}
		if rng.IntN(5) == 0 {
			sb.WriteByte('/')
		}
		lines = append(lines, sb.String())
	}
	return strings.Join(lines, "\n")
}

// TestIgnoreMatchesGit checks the ignore rules against git itself: for
// each rule set (the cases above and 300 generated ones) on the corpus
// tree, the files git check-ignore reports are exactly those the rules
// exclude, both for a walked directory and for a flat list of names (a
// Files source or a zip).
func TestIgnoreMatchesGit(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: the ignore rules are checked against git check-ignore")
	}
	dir := t.TempDir()
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return out // check-ignore: nothing ignored
		}
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return out
	}
	run(nil, "init", "-q", ".")
	for _, f := range gitCorpusFiles {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdin := []byte(strings.Join(gitCorpusFiles, "\x00") + "\x00")
	sets := slices.Clone(gitCorpusRules)
	rng := rand.New(rand.NewPCG(9, 11))
	for range 300 {
		sets = append(sets, randomRules(rng))
	}
	failures := 0
	for _, rules := range sets {
		if err := os.WriteFile(filepath.Join(dir, ".git", "info", "exclude"), []byte(rules+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, IgnoreFile), []byte(rules+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var want []string
		for p := range strings.SplitSeq(string(run(stdin, "check-ignore", "--no-index", "--stdin", "-z")), "\x00") {
			if p != "" {
				want = append(want, p)
			}
		}
		slices.Sort(want)

		ig := &ignorer{}
		for l := range strings.SplitSeq(rules, "\n") {
			ig.add(l, true)
		}
		var flat []string
		for _, f := range gitCorpusFiles {
			if ex, _ := ig.matchPath(f); ex {
				flat = append(flat, f)
			}
		}
		slices.Sort(flat)

		tr, err := walkDir(context.Background(), dir)
		if err != nil {
			t.Fatalf("rules %q: %v", rules, err)
		}
		var walked []string
		for _, f := range gitCorpusFiles {
			if !slices.ContainsFunc(tr.items, func(it item) bool { return it.name == f }) {
				walked = append(walked, f)
			}
		}
		slices.Sort(walked)

		if !slices.Equal(flat, want) || !slices.Equal(walked, want) {
			failures++
			if failures <= 10 {
				t.Errorf("rules %q:\n git excludes  %q\n flat list     %q\n directory walk %q", rules, want, flat, walked)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d rule sets disagree with git", failures, len(sets))
	}
}
