package harness

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// The gateway suite's view of the gateway's HTTP calls (provision, policy,
// the identity provider): the front records each request, lets a case
// answer it, and passes the rest to the simulator. A second server,
// "elsewhere", is another origin (another port) for redirect cases.

// IDPTokenPath is where the front serves the OAuth2 client-credentials
// token endpoint of the provision testee contract.
const IDPTokenPath = "/_conform/idp/token"

// maxRecordedBody bounds what the front reads of a request body: above the
// media cap, so an upload still reaches the simulator whole.
const maxRecordedBody = contract.MediaMaxBytes + 1

// GWHTTP is one HTTP request the gateway made.
type GWHTTP struct {
	N      int
	At     time.Time
	Server string // "front" or "elsewhere"
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Bearer returns the request's bearer token, or "".
func (h GWHTTP) Bearer() string {
	tok, _ := strings.CutPrefix(h.Header.Get("Authorization"), "Bearer ")
	return tok
}

func (h GWHTTP) String() string {
	return fmt.Sprintf("%s %s on %s", h.Method, h.Path, h.Server)
}

// HTTPAnswer is a case's answer to a request: Status with a JSON Body, or
// a redirect to Location.
type HTTPAnswer struct {
	Status   int
	Body     string
	Location string
}

// serveHTTP records a plain HTTP request to server and answers it with the
// case's answer, or passes it on with next.
func (f *front) serveHTTP(server string, w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRecordedBody))
	if err != nil {
		f.s.Tr.Event("http", "%s %s on %s: reading the body: %v", r.Method, r.URL.Path, server, err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := GWHTTP{At: time.Now(), Server: server, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	f.mu.Lock()
	f.https = append(f.https, req)
	req.N = len(f.https)
	f.https[req.N-1].N = req.N
	answer, idTok := f.onHTTP, f.identityToken
	f.notifyLocked()
	f.mu.Unlock()

	auth := "no Authorization"
	if tok := req.Bearer(); tok != "" {
		auth = "Authorization: Bearer " + DescribeToken(tok)
	}
	f.s.Tr.Event("http", "%s %s on %s (%s): %s", r.Method, r.URL.RequestURI(), server, auth, Truncate(string(body), 300))

	if r.URL.Path == IDPTokenPath && idTok != "" {
		f.s.Tr.Event("http", "suite issues the identity token")
		writeJSONAnswer(w, http.StatusOK, fmt.Sprintf(`{"access_token":%q,"token_type":"bearer","expires_in":3600}`, idTok))
		return
	}
	if answer != nil {
		if a, ok := answer(req); ok {
			if a.Location != "" {
				f.s.Tr.Event("http", "suite redirects %d to %s", a.Status, a.Location)
				w.Header().Set("Location", a.Location)
				w.WriteHeader(a.Status)
				return
			}
			f.s.Tr.Event("http", "suite answers %d %s", a.Status, a.Body)
			writeJSONAnswer(w, a.Status, a.Body)
			return
		}
	}
	if next == nil {
		writeJSONAnswer(w, http.StatusNotFound, `{"error":"not served by the conformance suite"}`)
		return
	}
	next.ServeHTTP(w, r)
}

func writeJSONAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// SetIdentityToken makes the front's identity provider issue tok.
func (f *front) SetIdentityToken(tok string) {
	f.mu.Lock()
	f.identityToken = tok
	f.mu.Unlock()
}

// SetOnHTTP lets fn answer the gateway's HTTP requests; a false second
// result passes the request to the simulator.
func (f *front) SetOnHTTP(fn func(req GWHTTP) (HTTPAnswer, bool)) {
	f.mu.Lock()
	f.onHTTP = fn
	f.mu.Unlock()
}

// ElsewhereURL starts, once, a second server on another port, a different
// origin from the front, and returns its base URL. What it receives is
// recorded with Server "elsewhere" and answered by the case, else 404.
func (f *front) ElsewhereURL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.elsewhere == nil {
		f.elsewhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.serveHTTP("elsewhere", w, r, nil)
		}))
	}
	return f.elsewhere.URL
}

// Requests returns the recorded HTTP requests match accepts, in order.
func (f *front) Requests(match func(GWHTTP) bool) []GWHTTP {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []GWHTTP
	for _, h := range f.https {
		if match(h) {
			out = append(out, h)
		}
	}
	return out
}

// AwaitRequests waits until at least n recorded requests match, and
// returns them; on a timeout it fails the case under id.
func (f *front) AwaitRequests(n int, d time.Duration, id, what string, match func(GWHTTP) bool) []GWHTTP {
	var got []GWHTTP
	if !f.Await(d, func() bool {
		got = f.Requests(match)
		return len(got) >= n
	}) {
		f.s.Failf(id, what, "%d such requests within %s; the gateway made: %s", len(got), d, f.httpSummary())
	}
	return got
}

func (f *front) httpSummary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.https) == 0 {
		return "no HTTP requests"
	}
	var out []string
	for _, h := range f.https {
		out = append(out, h.String())
	}
	return strings.Join(out, ", ")
}

// Route matches requests with method to path on server.
func Route(server, method, path string) func(GWHTTP) bool {
	return func(h GWHTTP) bool { return h.Server == server && h.Method == method && h.Path == path }
}
