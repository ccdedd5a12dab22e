package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/internal/testkit"
)

// consoleLine returns the URL of relaysim's log line naming the console,
// written just after the "ready" line: when expected, it waits for it;
// otherwise it looks once the "ready" line is there.
func consoleLine(t *testing.T, st *started, expected bool) string {
	t.Helper()
	re := regexp.MustCompile(`msg="relaysim: console: open it in a browser" url=(\S+)`)
	deadline := time.Now().Add(testkit.Wait)
	for {
		logs := st.stderr.String()
		if m := re.FindStringSubmatch(logs); m != nil {
			return m[1]
		}
		if (!expected && strings.Contains(logs, `msg="relaysim: ready"`)) || time.Now().After(deadline) {
			return ""
		}
		time.Sleep(5 * time.Millisecond) // polling the log, not asserting on time
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// With no flags relaysim prints where its console is, and serves it there.
func TestPrintsTheConsoleURL(t *testing.T) {
	st := startRun(t, []string{"--addr", "127.0.0.1:0"}, nil)
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(st.env["GATEWAY_RELAY_URL"], "ws"), "/relay")
	url := consoleLine(t, st, true)
	if url != base+"/_relaysim/" {
		t.Fatalf("console URL %q, want %q; stderr:\n%s", url, base+"/_relaysim/", st.stderr.String())
	}
	if code := getStatus(t, url); code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
}

// --console=false turns it off; beyond loopback it is off unless a control
// token protects it or it is asked for.
func TestConsoleFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		on   bool
	}{
		{[]string{"--addr", "127.0.0.1:0", "--console=false"}, false},
		{[]string{"--addr", "0.0.0.0:0"}, false},
		{[]string{"--addr", "0.0.0.0:0", "--control-token", "ct"}, true},
		{[]string{"--addr", "0.0.0.0:0", "--console"}, true},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			st := startRun(t, c.args, nil)
			url := consoleLine(t, st, c.on)
			if (url != "") != c.on {
				t.Fatalf("console URL %q, want the console on=%v; stderr:\n%s", url, c.on, st.stderr.String())
			}
			// Asked from this machine, by loopback (on a wildcard address the
			// control API checks the Host of loopback connections).
			port := st.env["GATEWAY_RELAY_URL"][strings.LastIndex(st.env["GATEWAY_RELAY_URL"], ":"):]
			base := "http://127.0.0.1" + strings.TrimSuffix(port, "/relay")
			want := http.StatusNotFound
			if c.on {
				want = http.StatusOK
			}
			if code := getStatus(t, base+"/_relaysim/"); code != want {
				t.Fatalf("GET the console: %d, want %d", code, want)
			}
			// On a wildcard address the URL printed is the one that
			// works from this machine.
			if c.on && url != base+"/_relaysim/" {
				t.Fatalf("console URL %q, want %q", url, base+"/_relaysim/")
			}
		})
	}
}
