package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// HTTPResp is an HTTP answer as a case sees it.
type HTTPResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r HTTPResp) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// HTTPDo sends one HTTP request to the implementation under test and
// records it in the transcript (bearer values redacted).
//
// A provision or enroll answered 429 with Retry-After (HTTP-025: a
// connector may bound how fast a tenant provisions) is retried after the
// wait, a few times; when the throttle does not lift the case is
// untestable.
func (s *S) HTTPDo(method, url, bearer string, header http.Header, body []byte) HTTPResp {
	for try := 0; ; try++ {
		r := s.httpDoOnce(method, url, bearer, header, body)
		if r.Status != http.StatusTooManyRequests || !throttledRoute(url) || bearer == "" || bearer != s.Run.Conn.Opts.IdentityToken {
			return r
		}
		wait := retryAfter(r.Header.Get("Retry-After"))
		if try == 2 || wait > 5*time.Second {
			s.Untestable("the connector throttles provisioning (429, Retry-After %q): the answer to a valid request cannot be judged now (HTTP-025)", r.Header.Get("Retry-After"))
		}
		s.Logf("throttled (HTTP-025): retrying after %s", wait)
		select {
		case <-time.After(wait):
		case <-s.Ctx.Done():
			s.Harness("case timed out waiting out a Retry-After")
		}
	}
}

// throttledRoute reports whether url is a route HTTP-025 lets a connector
// throttle.
func throttledRoute(url string) bool {
	return strings.HasSuffix(url, contract.PathProvision) || strings.HasSuffix(url, contract.PathEnroll)
}

// retryAfter reads a Retry-After header in seconds (1 s when absent or
// unreadable).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return time.Second
	}
	return time.Duration(n) * time.Second
}

func (s *S) httpDoOnce(method, url, bearer string, header http.Header, body []byte) HTTPResp {
	ctx, cancel := context.WithTimeout(s.Ctx, s.Within(2))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		s.Harness("build request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	auth := "no Authorization"
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
		s.Tr.Redact(bearer)
		auth = "Bearer <redacted>"
	}
	s.Tr.Event("http", "%s %s (%s, %d body bytes)", method, url, auth, len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.Harness("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	s.Tr.Event("http", "→ %d %s", resp.StatusCode, Truncate(string(b), 300))
	return HTTPResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// CheckErrorBody checks HTTP-006 on an error answer: a 4xx/5xx with a JSON
// {"error": "..."} body.
func (s *S) CheckErrorBody(r HTTPResp, want int, id, what string) {
	if r.Status != want {
		s.Failf(id, fmt.Sprintf("HTTP %d for %s", want, what), "HTTP %d %s", r.Status, Truncate(string(r.Body), 200))
	}
	m := r.JSON()
	msg, ok := m["error"].(string)
	if !ok || strings.TrimSpace(msg) == "" {
		s.Failf("HTTP-006", `a JSON body {"error": "<message>"}`, "%q", Truncate(string(r.Body), 200))
	}
}

// JSONBody marshals v.
func JSONBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

var JSONHeader = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
