package main

import (
	"strings"
	"testing"
)

// TestHelpGoesToStdout checks every command's help: asked for, it is
// output (stdout, exit 0), not an error, so `conform gateway --help | less`
// shows it.
func TestHelpGoesToStdout(t *testing.T) {
	for _, cmd := range [][]string{
		{}, {"connector"}, {"gateway"}, {"list"}, {"token"}, {"token", "mint"}, {"token", "verify"},
		{"session-key"}, {"validate"},
	} {
		for _, h := range []string{"-h", "--help", "-help"} {
			args := append(append([]string{}, cmd...), h)
			code, out, errs := call(args...)
			if code != 0 || errs != "" || !strings.Contains(strings.ToLower(out), "usage") {
				t.Errorf("conform %s: exit %d, stdout %d bytes, stderr %q; want exit 0 with the usage on stdout only", strings.Join(args, " "), code, len(out), errs)
			}
		}
	}
	// The flags of a suite are listed, not just its usage line.
	if _, out, _ := call("gateway", "--help"); !strings.Contains(out, "-exec") || !strings.Contains(out, "-junit") {
		t.Errorf("gateway --help lacks its flags:\n%s", out)
	}
	// A usage error still goes to stderr with exit 2, the usage after it.
	code, out, errs := call("token", "mint", "--bogus")
	if code != 2 || out != "" || !strings.Contains(errs, "-bogus") || !strings.Contains(errs, "usage: conform token mint") {
		t.Errorf("bad flag: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = call("validate")
	if code != 2 || out != "" || !strings.Contains(errs, "usage: conform validate") {
		t.Errorf("validate without a file: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, v := range []string{"version", "--version", "-version"} {
		code, out, errs := call(v)
		if code != 0 || errs != "" || !strings.HasPrefix(out, "conform ") ||
			!strings.Contains(out, "module    github.com/relaykit/relaykit\n") || !strings.Contains(out, "revision  ") {
			t.Errorf("conform %s: exit %d, stderr %q, stdout:\n%s", v, code, errs, out)
		}
	}
	if _, out, _ := call("--help"); !strings.Contains(out, "version") {
		t.Errorf("--help does not mention version:\n%s", out)
	}
}
