package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// echoOpener is a careless opener that puts the whole URL in its error.
type echoOpener struct{}

func (echoOpener) OpenFunctionURL(_ context.Context, u *url.URL) (*provider.Function, error) {
	return nil, fmt.Errorf("cannot open %s (query %s, token %s)", u, u.RawQuery, u.Query().Get("token"))
}

// URL credentials used to be echoed when the URL did not parse, had no
// scheme, or carried them in the query.
func TestOpenNeverPrintsURLCredentials(t *testing.T) {
	var m provider.URLMux
	m.RegisterFunction("echo", echoOpener{})
	m.RegisterFunction("mem", &memprovider.URLOpener{Cloud: memprovider.NewCloud(nil)})
	for _, raw := range []string{
		"mem://admin:S3cret@fn%zz",
		"//admin:S3cret@fn",
		"mem://admin:S3cret@fn",
		"mem:admin:S3cret@fn",
		"admin:S3cret@fn",
		"mem://fn?token=S3cret",
		"mem://fn?region=x&Token=S3cret",
		"mem://fn?x-amz-signature=S3cret%2Bmore",
		"echo://fn?token=S3cret",
		"echo://fn?api_key=S3cret&region=eu",
		"echo://fn?sig=S3cret#frag",
		"echo://fn?password=S3cret%zz",
	} {
		_, err := m.OpenFunction(t.Context(), raw)
		if provider.Code(err) != provider.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", provider.RedactURL(raw), err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "S3cret") || strings.Contains(msg, "<nil>") {
			t.Errorf("Open error shows a credential or <nil>: %s", msg)
		}
		if strings.Count(msg, "updraft:") != 1 || strings.Count(msg, "(InvalidArgument)") != 1 {
			t.Errorf("Open error repeats itself: %s", msg)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"awslambda://hello?region=eu-west-1":        "awslambda://hello?region=eu-west-1",
		"mem://admin:S3cret@fn":                     "mem://[redacted]@fn",
		"mem://admin:S3cret@fn%zz":                  "mem://[redacted]@fn%zz",
		"//admin:S3cret@fn":                         "//[redacted]@fn",
		"mem:admin:S3cret@fn":                       "[redacted]@fn",
		"x://fn?token=abc&region=eu&Secret_Key=k#a": "x://fn?token=[redacted]&region=eu&Secret_Key=[redacted]#a",
		"x://fn/p?%74oken=abc;sig=1":                "x://fn/p?%74oken=[redacted];sig=[redacted]",
		"x://fn#access_token=abc":                   "x://fn#access_token=[redacted]",
		"x://fn?code=":                              "x://fn?code=",
		"x://a@b/c@d?e=f@g":                         "x://[redacted]@b/c@d?e=f@g",
		"":                                          "",
	} {
		if got := provider.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentialParam(t *testing.T) {
	for _, n := range []string{"token", "TOKEN", "access_token", "X-Amz-Security-Token", "secret", "client_secret", "password",
		"key", "api_key", "apikey", "account-key", "signature", "X-Amz-Signature", "sig", "credential", "X-Amz-Credential", "sas", "code", "private_key"} {
		if !provider.CredentialParam(n) {
			t.Errorf("%s is a credential parameter", n)
		}
	}
	for _, n := range []string{"region", "profile", "endpoint", "role", "code_bucket", "scheduler_role", "dir", "name"} {
		if provider.CredentialParam(n) {
			t.Errorf("%s is not a credential parameter", n)
		}
	}
}

// Messages used to show <nil> and to repeat the target, the operation
// and the code of a coded cause.
func TestErrorsSayEachThingOnce(t *testing.T) {
	_, err := provider.Open(t.Context(), "mem://")
	if got, want := fmt.Sprint(err), `updraft: mem://: Open: function name "": use 1 to 64 letters, digits, '-' and '_' (InvalidArgument)`; got != want {
		t.Errorf("Open(mem://) =\n%s\nwant\n%s", got, want)
	}
	bare := &provider.Error{Code: provider.NotFound, Target: "mem://x", Op: "Get"}
	if got := bare.Error(); got != "updraft: mem://x: Get: NotFound" {
		t.Errorf("an error without a cause reads %q", got)
	}

	inner := provider.Errorf(provider.Unknown, "mem://m1", "Get", "boom")
	outer := provider.Errorf(provider.Unknown, "mem://m1", "read", "%w", inner)
	if got, want := outer.Error(), "updraft: mem://m1: read: Get: boom (Unknown)"; got != want {
		t.Errorf("nested error =\n%s\nwant\n%s", got, want)
	}
	same := provider.Errorf(provider.NotFound, "mem://m1", "Get", "reading: %w", provider.Errorf(provider.NotFound, "mem://m1", "Get", "gone"))
	if got, want := same.Error(), "updraft: mem://m1: Get: reading: gone (NotFound)"; got != want {
		t.Errorf("nested error, same op =\n%s\nwant\n%s", got, want)
	}
	other := provider.Errorf(provider.Internal, "mem://a", "Plan", "%w", provider.Errorf(provider.NotFound, "mem://b", "Get", "gone"))
	if got, want := other.Error(), "updraft: mem://a: Plan: updraft: mem://b: Get: gone (NotFound) (Internal)"; got != want {
		t.Errorf("a cause about another target is kept whole:\n%s\nwant\n%s", got, want)
	}

	fn := provider.NewFunction(&codeDriver{})
	verr := fn.Validate(&provider.Spec{})
	var pe *provider.Error
	if !errors.As(verr, &pe) {
		t.Fatalf("Validate: %v", verr)
	}
	if msg := pe.Message(); strings.Contains(msg, "fake://fn") || strings.Contains(msg, "Validate") || !strings.HasSuffix(msg, "(InvalidArgument)") {
		t.Errorf("Message() = %q, want the cause and code without target and operation", msg)
	}
}

// driver.Wrap gives a native error a code and a message and keeps it
// reachable.
func TestDriverWrap(t *testing.T) {
	native := &nativeErr{code: "InvalidParameterValueException"}
	err := driver.Wrap(driver.FailedPrecondition, native, "the role cannot be assumed yet")
	if driver.CodeOf(err) != driver.FailedPrecondition {
		t.Fatalf("CodeOf = %v", driver.CodeOf(err))
	}
	var n *nativeErr
	if !errors.As(err, &n) || n != native {
		t.Fatal("errors.As does not reach the cause")
	}
	fn := provider.NewFunction(&codeDriver{err: err})
	_, got := fn.Get(t.Context())
	want := "updraft: fake://fn: Get: the role cannot be assumed yet: native InvalidParameterValueException (FailedPrecondition): "
	if !strings.HasPrefix(got.Error(), want) || provider.Code(got) != provider.FailedPrecondition || !errors.As(got, &n) {
		t.Errorf("got %v, want it to start %q", got, want)
	}
	if s := driver.Wrap(driver.Internal, nil, "").Error(); s != "Internal" {
		t.Errorf("empty Wrap reads %q", s)
	}
}

func TestEntrypointStaysInsideTheCode(t *testing.T) {
	for _, e := range []string{"../../outside.sh", "..", "/bin/sh", "a/../../b", "./run.sh", "bin//run", `bin\run.sh`, `C:\run.exe`, "c:run", "run\x00.sh", "run\n"} {
		err := provider.Validate(&provider.Spec{Runtime: "go", Entrypoint: e}, lambdaLike())
		var ve *provider.ValidationError
		if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Field != "Entrypoint" || ve.Violations[0].Code != provider.InvalidArgument {
			t.Errorf("entrypoint %q: got %v, want one InvalidArgument violation of Entrypoint", e, err)
		}
	}
	for _, e := range []string{"", "bootstrap", "bin/run.sh", "index.handler", "app.main.handler", "com.example.Handler::handleRequest"} {
		if err := provider.Validate(&provider.Spec{Runtime: "go", Entrypoint: e}, lambdaLike()); err != nil {
			t.Errorf("entrypoint %q: %v", e, err)
		}
	}
}

// regionDriver is selected by its region as well as its name.
type regionDriver struct {
	codeDriver
	region string
}

func (d *regionDriver) Target() string {
	return driver.TargetURL("fake", d.Name(), map[string]string{"region": d.region, "profile": ""})
}

// The same name in two regions used to have one Target, so deploy
// refused the pair as a target given twice.
func TestTargetIsEverythingThatSelects(t *testing.T) {
	a := provider.NewFunction(&regionDriver{region: "eu-west-1"})
	b := provider.NewFunction(&regionDriver{region: "us-east-1"})
	a2 := provider.NewFunction(&regionDriver{region: "eu-west-1"})
	if a.Target() == b.Target() {
		t.Errorf("one name in two regions has one target %s", a.Target())
	}
	if a.Target() != a2.Target() || a.Target() != "fake://fn?region=eu-west-1" {
		t.Errorf("targets %s and %s, want fake://fn?region=eu-west-1 for both", a.Target(), a2.Target())
	}
	if got := provider.NewFunction(&codeDriver{}).Target(); got != "fake://fn" {
		t.Errorf("a driver without Target has target %s", got)
	}
	if got := driver.TargetURL("x", "f", map[string]string{"endpoint": "http://localhost:4566", "region": "b"}); got != "x://f?endpoint=http%3A%2F%2Flocalhost%3A4566&region=b" {
		t.Errorf("TargetURL = %s", got)
	}
}

// FuzzOpenURLRedacts puts a credential in the user information or in a
// credential query parameter of a fuzzed URL and checks that no error of
// Open shows it, whatever the rest of the URL is.
func FuzzOpenURLRedacts(f *testing.F) {
	f.Add(0, "admin", "fn%zz", "token", "", "S3CRET9")
	f.Add(1, "admin", "fn", "sig", "#x", "S3CRET9")
	f.Add(2, "u:v", "fn", "X-Amz-Signature", "&region=eu", "AB12CD")
	f.Add(3, "", "", "password", "%zz", "ZZ99ZZ")
	f.Add(4, "a", "b:c", "api_key", "/p?q", "Q1W2E3")
	var m provider.URLMux
	m.RegisterFunction("echo", echoOpener{})
	m.RegisterFunction("mem", &memprovider.URLOpener{Cloud: memprovider.NewCloud(nil)})
	prefixes := []string{"mem://", "//", "echo://", "mem:", "", "echo:"}
	f.Fuzz(func(t *testing.T, p int, user, host, qkey, tail, secret string) {
		if !distinctive(secret) || strings.ContainsAny(user+host, "/?#@") || strings.ContainsAny(qkey, "=&;#?%+") {
			return
		}
		prefix := prefixes[uint(p)%uint(len(prefixes))]
		if strings.Contains(prefix+user+host+qkey+tail, secret) {
			return
		}
		urls := []string{prefix + user + ":" + secret + "@" + host + tail}
		if provider.CredentialParam(qkey) {
			urls = append(urls, prefix+host+"?"+qkey+"="+secret+tail, prefix+host+"?region=x&"+qkey+"="+secret+tail)
		}
		for _, raw := range urls {
			if spells(strings.Replace(raw, secret, "\x01", 1), secret) {
				continue // the rest of the URL spells it too
			}
			if red := provider.RedactURL(raw); strings.Contains(red, secret) || provider.RedactURL(red) != red {
				t.Fatalf("RedactURL(%q) = %q", raw, red)
			}
			fn, err := m.OpenFunction(t.Context(), raw)
			if err == nil {
				fn.Close()
				continue
			}
			if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "<nil>") {
				t.Fatalf("Open(%q) = %s", raw, msg)
			}
		}
	})
}

// spells reports whether s holds secret once escapes are decoded or
// re-encoded (a URL's String writes "%0a" as "%0A").
func spells(s, secret string) bool {
	u, _ := url.PathUnescape(s)
	q, _ := url.QueryUnescape(s)
	for _, v := range []string{s, u, q} {
		if strings.Contains(strings.ToUpper(v), secret) {
			return true
		}
	}
	return false
}

// distinctive reports whether s is a credential no message text could
// hold by chance: 6 or more capital letters and digits, with both.
func distinctive(s string) bool {
	letter, digit := false, false
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9':
			digit = true
		default:
			return false
		}
	}
	return len(s) >= 6 && letter && digit
}

// An Env value with NUL used to pass Validate (and fail only at invoke),
// and a name Lambda refuses, such as _X, passed too.
func TestEnvRules(t *testing.T) {
	mem := memprovider.Capabilities()
	portable := mem
	portable.Env = provider.EnvRules{}
	aws := mem
	aws.Provider = "awslambda"
	aws.Env.NamePattern, aws.Env.NameRule = `[A-Za-z][A-Za-z0-9_]+`, "use 2 or more letters, digits and '_', starting with a letter"
	strict := portable
	strict.Env = provider.EnvRules{ReservedPrefixes: []string{"X_GOOGLE_"}, ReservedNames: []string{"PORT"}, ForbiddenValueBytes: "\n="}
	broken := portable
	broken.Env.NamePattern = "("
	for _, c := range []struct {
		caps       provider.Capabilities
		env        map[string]string
		secrets    map[string]string
		want       string // "" = valid
		wantAbsent string
	}{
		{portable, map[string]string{"A": "x\x00y"}, nil, `environment variable "A" holds byte '\x00' at offset 1`, "x\x00y"},
		{mem, map[string]string{"DB": "hunter2\x00"}, nil, `holds byte '\x00' at offset 7, which mem does not allow`, "hunter2"},
		{portable, map[string]string{"_X": "1"}, nil, `environment variable name "_X": use letters, digits and '_', starting with a letter (mem)`, ""},
		{mem, nil, map[string]string{"_X": "arn:x"}, `secret variable name "_X"`, ""},
		{mem, map[string]string{"AWS_REGION": "eu"}, nil, `"AWS_REGION": mem sets it itself and reserves it`, ""},
		{aws, map[string]string{"A": "1"}, nil, `"A": use 2 or more letters, digits and '_', starting with a letter (awslambda)`, ""},
		{aws, map[string]string{"AB": "1"}, nil, "", ""},
		{strict, map[string]string{"X_GOOGLE_FOO": "1"}, nil, "mem reserves names starting with X_GOOGLE_", ""},
		{strict, map[string]string{"PORT": "1"}, nil, `"PORT": mem sets it itself`, ""},
		{strict, map[string]string{"V": "a=b"}, nil, `holds byte '=' at offset 1`, ""},
		{strict, map[string]string{"V": "ab"}, nil, "", ""},
		{broken, map[string]string{"V": "1"}, nil, "the adapter is at fault", ""},
		{mem, nil, map[string]string{"S": "arn:\x00"}, `secret "S" has a NUL byte`, ""},
	} {
		err := provider.Validate(&provider.Spec{Runtime: "go", Env: c.env, Secrets: c.secrets}, c.caps)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("env %q: %v", c.env, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("env %q secrets %q: got %v, want %q", c.env, c.secrets, err, c.want)
		case c.wantAbsent != "" && strings.Contains(err.Error(), c.wantAbsent):
			t.Errorf("the error shows the value: %v", err)
		}
	}
	// The rules reach users through Function.Capabilities.
	fn, err := memprovider.NewCloud(nil).OpenFunction(t.Context(), "fn")
	if err != nil {
		t.Fatal(err)
	}
	if got := fn.Capabilities().Env.ReservedNames; len(got) == 0 {
		t.Error("mem's reserved names do not reach Function.Capabilities")
	}
	if _, err := fn.Apply(t.Context(), &provider.Spec{Runtime: "go", Env: map[string]string{"K": "\x00"}}, nil); provider.Code(err) != provider.InvalidArgument {
		t.Errorf("Apply with a NUL in a value: %v, want InvalidArgument", err)
	}
}
