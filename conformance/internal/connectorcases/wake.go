package connectorcases

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
)

// Connector cases of section 8: wake. The suite serves the wake URL.

// wakeRecord is one request the wake endpoint received.
type wakeRecord struct {
	Method string
	Path   string
	Query  string
	Auth   string
	Body   []byte
	// Signed names a header that looks like a signature or credential
	// (Cookie, X-*-Signature, X-*-Token), "" when there is none.
	Signed string
}

// wakeServer is the suite's wake endpoint.
type wakeServer struct {
	srv    *httptest.Server
	status int

	mu   sync.Mutex
	reqs []wakeRecord
	hit  chan struct{}
}

// startWake serves a wake URL answering status for the rest of the case.
func startWake(s *h.S, status int) *wakeServer {
	w := &wakeServer{status: status, hit: make(chan struct{}, 16)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.reqs = append(w.reqs, wakeRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body, Signed: signedHeader(r.Header)})
		w.mu.Unlock()
		s.Tr.Event("wake", "%s %s (%d body bytes)", r.Method, r.URL.RequestURI(), len(body))
		rw.WriteHeader(w.status)
		w.hit <- struct{}{}
	}))
	s.Cleanup(w.srv.Close)
	return w
}

func (w *wakeServer) url() string { return w.srv.URL + "/wake/conformance" }

func (w *wakeServer) requests() []wakeRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wakeRecord(nil), w.reqs...)
}

// enrollWithWake enrolls the case's gateway with the wake URL.
func enrollWithWake(s *h.S, w *wakeServer) {
	t := s.Run.Conn
	creds, err := t.CredsFor(s.Ctx, h.Slug(s.C.ID), &h.EnrollSpec{WakeURL: w.url()})
	if err != nil {
		s.Harness("enroll a gateway with a wake URL: %v", err)
	}
	s.Tr.Redact(creds.Secret)
	s.Cc.Creds = creds
}

// flippedAway connects, goes idle and disconnects.
func flippedAway(s *h.S) {
	p, _ := s.Connect()
	goIdle(s, p)
	p.CloseNormal()
}

var _ = h.ConnectorCase(h.Case{
	ID:    "WAKE-002/bare-get",
	Reqs:  []string{"WAKE-002", "WAKE-003"},
	Text:  "the first event buffered for a flipped instance triggers one bare GET to its wake URL, and no second one within the cooldown",
	Needs: h.NeedWake | h.NeedControl,
}, func(s *h.S) {
	w := startWake(s, http.StatusNoContent)
	enrollWithWake(s, w)
	flippedAway(s)
	s.Inject(s.NewMessage("wake up"))
	select {
	case <-w.hit:
	case <-s.Ctx.Done():
		s.Harness("case timed out")
	case <-h.TimeAfter(s.Within(1)):
		s.Failf("WAKE-002", "a GET to the wake URL after the first buffered event", "no request within %s", s.Within(1))
	}
	r := w.requests()[0]
	s.Check(r.Method == http.MethodGet, "WAKE-002", "method GET", "%s", r.Method)
	s.Check(len(r.Body) == 0, "WAKE-002", "no body", "%d bytes", len(r.Body))
	s.Check(r.Auth == "", "WAKE-002", "no credentials", "an Authorization header")
	s.Check(r.Signed == "", "WAKE-002", "no signature and no credentials in any header", "header %s", r.Signed)
	s.Check(r.Path == "/wake/conformance" && r.Query == "", "WAKE-002", "exactly the registered URL", "%s?%s", r.Path, r.Query)
	s.Step("a second buffered event within the cooldown wakes nobody")
	s.Inject(s.NewMessage("still asleep"))
	select {
	case <-w.hit:
		s.Failf("WAKE-003", "at most one wake request per cooldown", "%d wake requests", len(w.requests()))
	case <-h.TimeAfter(s.Quiet()):
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "WAKE-004/failure-swallowed",
	Reqs:  []string{"WAKE-004"},
	Text:  "a failing wake request is swallowed: the event stays buffered and is replayed when the gateway reconnects",
	Needs: h.NeedWake | h.NeedControl,
}, func(s *h.S) {
	w := startWake(s, http.StatusInternalServerError)
	enrollWithWake(s, w)
	flippedAway(s)
	m := s.NewMessage("wake fails")
	s.Inject(m)
	select {
	case <-w.hit:
	case <-h.TimeAfter(s.Within(1)):
		s.Untestable("no wake request was sent (see WAKE-002/bare-get)")
	}
	p, _ := s.Connect()
	ack(p, expectReplay(p, "WAKE-004", m))
})

// signedHeader returns the name of a header that carries a signature or a
// credential, or "".
func signedHeader(h http.Header) string {
	for name := range h {
		l := strings.ToLower(name)
		if l == "cookie" || strings.Contains(l, "signature") || strings.HasSuffix(l, "-token") || strings.Contains(l, "hmac") {
			return name
		}
	}
	return ""
}
