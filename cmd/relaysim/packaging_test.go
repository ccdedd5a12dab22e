package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// runArgs runs relaysim with args that should make it return at once; a
// run that starts a server instead is stopped after a few seconds, so
// that a test expecting a refusal fails rather than hangs.
func runArgs(args []string, env map[string]string) (int, string, string) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	code := run(ctx, args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{
		{"--version"}, {"-version"}, {"version"},
		{"--manual-clock", "--version"},       // after a bool flag
		{"--log-level", "debug", "--version"}, // after a flag with its value
		{"--addr=127.0.0.1:0", "--dev", "--version"},
	} {
		code, out, errs := runArgs(args, nil)
		if code != 0 || errs != "" || !strings.HasPrefix(out, "relaysim ") || !strings.Contains(out, "module    github.com/relaykit/relaykit\n") {
			t.Errorf("relaysim %v: exit %d, stderr %q, stdout:\n%s", args, code, errs, out)
		}
	}
	// RELAYSIM_VERSION is no env twin: a container that happens to set it
	// still starts a server (here, one refused for another reason).
	if code, out, _ := runArgs([]string{"--drain-window", "0"}, map[string]string{"RELAYSIM_VERSION": "1"}); code != 2 || out != "" {
		t.Errorf("RELAYSIM_VERSION acted as --version: exit %d, stdout %q", code, out)
	}
	if _, out, _ := runArgs([]string{"--help"}, nil); !strings.Contains(out, "relaysim --version") {
		t.Errorf("--help does not mention --version")
	}
}

// TestWantsVersion checks that --version is found where the flag package
// would see a flag, and nowhere else.
func TestWantsVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--version"}, true},
		{[]string{"--version=true"}, true},
		{[]string{"--dev", "--version"}, true},
		{[]string{"--platforms", "telegram", "-version"}, true},
		{[]string{"--gateway-id", "--version"}, false}, // the value of --gateway-id
		{[]string{"--", "--version"}, false},
		{[]string{"extra", "--version"}, false},
		{[]string{"--manual-clock"}, false},
		{nil, false},
	} {
		var c config
		if got := wantsVersion(newFlagSet(&c, &bytes.Buffer{}), tc.args); got != tc.want {
			t.Errorf("wantsVersion(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestHelpGoesToStdout: help asked for is output, with exit 0; a usage
// error is still an error on stderr.
func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}} {
		code, out, errs := runArgs(args, nil)
		if code != 0 || errs != "" || !strings.Contains(strings.ToLower(out), "usage: relaysim") {
			t.Errorf("relaysim %v: exit %d, stdout %d bytes, stderr %q", args, code, len(out), errs)
		}
	}
	for _, args := range [][]string{{"--nope"}} {
		code, out, errs := runArgs(args, nil)
		if code != 2 || out != "" || !strings.Contains(errs, "-nope") || !strings.Contains(errs, "sage: relaysim") {
			t.Errorf("relaysim %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
}

// TestRequireControlToken is the container image's guard: with
// RELAYSIM_REQUIRE_CONTROL_TOKEN=true (the image sets it) relaysim does
// not start with an open control API, and starts with a token.
func TestRequireControlToken(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--require-control-token", "--addr", "127.0.0.1:0"}, nil},
		{nil, map[string]string{"RELAYSIM_REQUIRE_CONTROL_TOKEN": "true", "RELAYSIM_ADDR": "127.0.0.1:0"}},
	} {
		code, out, errs := runArgs(tc.args, tc.env)
		if code != 2 || out != "" || !strings.Contains(errs, "--require-control-token") || !strings.Contains(errs, "RELAYSIM_CONTROL_TOKEN") {
			t.Errorf("%v %v: exit %d, stdout %q, stderr %q; want a usage error naming the token to set", tc.args, tc.env, code, out, errs)
		}
	}
	st := startRun(t, nil, map[string]string{"RELAYSIM_REQUIRE_CONTROL_TOKEN": "true", "RELAYSIM_CONTROL_TOKEN": "c0ntrol", "RELAYSIM_ADDR": "127.0.0.1:0"})
	if !strings.HasPrefix(st.env["GATEWAY_RELAY_URL"], "ws://127.0.0.1:") {
		t.Fatalf("env %v", st.env)
	}
	if strings.Contains(st.stderr.String(), "c0ntrol") {
		t.Fatal("the control token reached the logs")
	}
}
