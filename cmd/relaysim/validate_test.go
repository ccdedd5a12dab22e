package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
)

func noEnv(string) string { return "" }

// runRefused runs relaysim with args that must be refused at once; a run
// that starts serving instead is stopped after 2 s and reports exit 0.
func runRefused(args []string, getenv func(string) string) (code int, stdout, stderr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb, getenv)
	return code, out.String(), errb.String()
}

// Every flag value is checked at start: a bad one exits 2 with a message
// naming the flag, before anything listens.
func TestFlagValuesValidatedAtStart(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "state")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ping-timeout", "0s"}, "--ping-timeout 0s: must be a positive duration"},
		{[]string{"--ping-timeout", "-1s"}, "--ping-timeout -1s: must be a positive duration"},
		{[]string{"--ping-interval", "0s"}, "--ping-interval 0s: must be positive (a negative value disables keepalive)"},
		{[]string{"--handshake-timeout", "0s"}, "--handshake-timeout 0s"},
		{[]string{"--wake-cooldown", "-5s"}, "--wake-cooldown -5s"},
		{[]string{"--auth-fail-refill", "0s"}, "--auth-fail-refill 0s"},
		{[]string{"--media-ttl", "-1h"}, "--media-ttl -1h0m0s"},
		{[]string{"--read-header-timeout", "0s"}, "--read-header-timeout 0s"},
		{[]string{"--read-timeout", "-1s"}, "--read-timeout -1s"},
		{[]string{"--write-timeout", "0s"}, "--write-timeout 0s"},
		{[]string{"--media-timeout", "0s"}, "--media-timeout 0s"},
		{[]string{"--idle-timeout", "0s"}, "--idle-timeout 0s"},
		{[]string{"--provision-refill", "0s"}, "--provision-refill 0s"},
		{[]string{"--provision-total-refill", "-1s"}, "--provision-total-refill -1s"},
		{[]string{"--drain-window", "0"}, "--drain-window 0: must be at least 1"},
		{[]string{"--drain-window", "-3"}, "--drain-window -3: must be at least 1"},
		{[]string{"--auth-fail-burst", "0"}, "--auth-fail-burst 0: must be at least 1 (a negative value disables throttling)"},
		{[]string{"--provision-burst", "0"}, "--provision-burst 0"},
		{[]string{"--max-gateways", "0"}, "--max-gateways 0"},
		{[]string{"--max-gateways-per-tenant", "0"}, "--max-gateways-per-tenant 0"},
		{[]string{"--max-conns", "0"}, "--max-conns 0: must be at least 1 (a negative value means no cap)"},
		{[]string{"--max-header-bytes", "100"}, "--max-header-bytes 100: must be at least 1024"},
		{[]string{"--wake-url", "ftp://example.com/wake"}, `--wake-url "ftp://example.com/wake": scheme must be http or https`},
		{[]string{"--wake-url", "http:///wake"}, "has no host"},
		{[]string{"--wake-url", "http://exa mple.com/"}, "not a URL"},
		{[]string{"--addr", "localhost"}, `--addr "localhost": want HOST:PORT`},
		{[]string{"--addr", "127.0.0.1:99999"}, `port "99999" is not a number from 0 to 65535`},
		{[]string{"--addr", "127.0.0.1:http"}, `port "http"`},
		{[]string{"--addr", "bad_host!:80"}, `host "bad_host!" is neither an IP address nor a host name`},
		{[]string{"--store", "s3:bucket"}, `--store "s3:bucket": unknown scheme "s3"`},
		{[]string{"--store", "file:"}, "file: needs a path"},
		{[]string{"--store", "file:" + missing}, "does not exist"},
		{[]string{"--store", "file:" + t.TempDir()}, "is a directory"},
		{[]string{"--identity-token", "=tenant"}, "an entry has an empty token"},
		{[]string{"--identity-token", "a=t1", "--identity-token", "a=t2"}, "one token is given for two tenants"},
		{[]string{"--platforms", "slack,slack"}, `"slack" is listed twice`},
		{[]string{"--allow-anonymous", "--gateway-id", ""}, "--allow-anonymous needs a development gateway"},
		{[]string{"--gateway-id", "gw\nx"}, "--gateway-id"},
		{[]string{"--dev", "--identity-token", "tok"}, "--dev with --identity-token"},
		{[]string{"--dev", "--addr", "0.0.0.0:0"}, "--dev on 0.0.0.0:0, which is not a loopback address"},
	} {
		code, out, errb := runRefused(c.args, noEnv)
		if code != 2 || !strings.Contains(errb, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errb, c.want)
		}
		if out != "" {
			t.Errorf("%q printed %q on stdout", c.args, out)
		}
	}
	// The env twin of --dev counts as asking for it.
	env := func(k string) string {
		return map[string]string{"RELAYSIM_DEV": "true", "RELAYSIM_IDENTITY_TOKEN": "tok"}[k]
	}
	if code, _, errb := runRefused(nil, env); code != 2 || !strings.Contains(errb, "--dev with --identity-token") {
		t.Errorf("RELAYSIM_DEV with RELAYSIM_IDENTITY_TOKEN: exit %d %q", code, errb)
	}
}

// provisionWith asks the running relaysim to provision a gateway with
// bearer and returns the status.
func provisionWith(t *testing.T, st *started, bearer string) int {
	t.Helper()
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(st.env["GATEWAY_RELAY_URL"], "ws"), "/relay")
	base = strings.Replace(base, "0.0.0.0", "127.0.0.1", 1)
	body := `{"gatewayId":"gw-new","platform":"slack","botId":"","gatewayEndpoint":"","routeKeys":[]}`
	req, _ := http.NewRequest(http.MethodPost, base+contract.PathProvision, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Dev mode is on by itself only on loopback without identity tokens.
func TestDevModeOnlyWhereSafe(t *testing.T) {
	t.Run("loopback, no identity tokens: on", func(t *testing.T) {
		st := startRun(t, []string{"--addr", "127.0.0.1:0"}, nil)
		if code := provisionWith(t, st, "anything"); code != 200 {
			t.Fatalf("any bearer: %d", code)
		}
		if strings.Contains(st.stderr.String(), "control-token") {
			t.Fatalf("a loopback start warned: %s", st.stderr.String())
		}
	})
	t.Run("identity tokens: off", func(t *testing.T) {
		st := startRun(t, []string{"--addr", "127.0.0.1:0", "--identity-token", "tok=acme"}, nil)
		if code := provisionWith(t, st, "anything"); code != 401 {
			t.Fatalf("any bearer: %d, want 401", code)
		}
		if code := provisionWith(t, st, "tok"); code != 200 {
			t.Fatalf("the identity token: %d", code)
		}
	})
	t.Run("beyond loopback: off, and warned", func(t *testing.T) {
		st := startRun(t, []string{"--addr", "0.0.0.0:0"}, nil)
		if code := provisionWith(t, st, "anything"); code != 401 {
			t.Fatalf("any bearer: %d, want 401", code)
		}
		if logs := st.stderr.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "without --control-token") {
			t.Fatalf("no warning about the exposed control API:\n%s", logs)
		}
	})
	t.Run("beyond loopback with a control token: no warning", func(t *testing.T) {
		st := startRun(t, []string{"--addr", "0.0.0.0:0", "--control-token", "ct"}, nil)
		if strings.Contains(st.stderr.String(), "without --control-token") {
			t.Fatalf("warned although a control token is set:\n%s", st.stderr.String())
		}
	})
}

// TestSoakMovedOut: "relaysim soak" is a usage error that names the
// command the soak moved to.
func TestSoakMovedOut(t *testing.T) {
	if code, _, errb := runRefused([]string{"soak"}, noEnv); code != 2 || !strings.Contains(errb, "relaysoak") {
		t.Errorf("relaysim soak: exit %d, stderr %q; want 2 and a pointer to relaysoak", code, errb)
	}
}
