package simulator_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// get fetches a path of s with headers and returns the answer and its body.
func get(t *testing.T, s *simulator.Server, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, s.URL()+path, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The page and every file it loads, module imports included, come from
// the binary, with a policy that lets the page load nothing else.
func TestConsoleServesItsFiles(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1})
	if want := s.URL() + "/_relaysim/"; s.ConsoleURL() != want {
		t.Fatalf("ConsoleURL %q, want %q", s.ConsoleURL(), want)
	}
	resp, page := get(t, s, http.MethodGet, "/_relaysim/", nil)
	if !strings.Contains(page, `<script type="module" src="console/main.js">`) {
		t.Fatalf("page: %.200s", page)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	// Follow every reference: src and href of the page, imports of the
	// modules. Nothing may point off the server (works offline).
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"|from '\./([^']+)'|import\('\./([^']+)'\)`)
	seen := map[string]bool{}
	queue := []string{"/_relaysim/"}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		_, body := get(t, s, http.MethodGet, p, nil)
		for _, m := range refs.FindAllStringSubmatch(body, -1) {
			ref := m[1] + m[2] + m[3]
			if strings.Contains(ref, "://") || strings.HasPrefix(ref, "//") {
				t.Errorf("%s refers to %s, off the server", p, ref)
				continue
			}
			if m[1] != "" {
				ref = "/_relaysim/" + ref
			} else {
				ref = "/_relaysim/console/" + ref
			}
			if seen[ref] {
				continue
			}
			seen[ref] = true
			resp, _ := get(t, s, http.MethodGet, ref, nil)
			ext := ref[strings.LastIndex(ref, "."):]
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != types[ext] {
				t.Errorf("%s (from %s): %d %q", ref, p, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if ext == ".js" {
				queue = append(queue, ref)
			}
		}
	}
	if len(seen) < 8 {
		t.Fatalf("found only %d files: %v", len(seen), seen)
	}

	// Revalidation is cheap; HEAD works; other methods, unknown files and
	// query parameters get the control API's JSON errors.
	resp, _ = get(t, s, http.MethodGet, "/_relaysim/console/main.js", nil)
	if resp, _ := get(t, s, http.MethodGet, "/_relaysim/console/main.js", map[string]string{"If-None-Match": resp.Header.Get("ETag")}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d", resp.StatusCode)
	}
	for _, c := range []struct {
		method, path string
		status       int
		want         string
	}{
		{http.MethodHead, "/_relaysim/", http.StatusOK, ""},
		{http.MethodPost, "/_relaysim/", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodGet, "/_relaysim/console/nope.js", http.StatusNotFound, "no console file nope.js"},
		{http.MethodGet, "/_relaysim/console/main.js?v=2", http.StatusBadRequest, "query parameter"},
		{http.MethodGet, "/_relaysim", http.StatusFound, ""},
	} {
		resp, body := get(t, s, c.method, c.path, nil)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, s, http.MethodGet, "/_relaysim", nil); resp.Header.Get("Location") != "/_relaysim/" {
		t.Errorf("redirect to %q", resp.Header.Get("Location"))
	}
}

// The page passes the control API's Host and Origin checks; it holds no
// data, so it needs no control token, while everything it calls does.
func TestConsoleGuards(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, ControlToken: "tok"})
	for _, c := range []struct {
		hdr    map[string]string
		status int
	}{
		{nil, http.StatusOK},
		{map[string]string{"Host": "evil.example"}, http.StatusForbidden},
		{map[string]string{"Origin": "http://localhost:1"}, http.StatusForbidden},
		{map[string]string{"Host": "localhost"}, http.StatusOK},
	} {
		for _, p := range []string{"/_relaysim/", "/_relaysim/console/api.js"} {
			if resp, body := get(t, s, http.MethodGet, p, c.hdr); resp.StatusCode != c.status {
				t.Errorf("%s %v: %d %s", p, c.hdr, resp.StatusCode, body)
			}
		}
	}
	if resp, _ := get(t, s, http.MethodGet, "/_relaysim/health", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("health without the token: %d", resp.StatusCode)
	}
}

func TestConsoleCanBeTurnedOff(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, DisableConsole: true})
	if s.ConsoleURL() != "" {
		t.Errorf("ConsoleURL %q", s.ConsoleURL())
	}
	for _, p := range []string{"/_relaysim/", "/_relaysim/console/main.js", "/_relaysim"} {
		if resp, body := get(t, s, http.MethodGet, p, nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "console is turned off") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, s, http.MethodGet, "/_relaysim/health", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the control API went with the console: %d", resp.StatusCode)
	}
}
