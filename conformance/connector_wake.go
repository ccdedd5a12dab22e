package conformance

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
func startWake(s *S, status int) *wakeServer {
	w := &wakeServer{status: status, hit: make(chan struct{}, 16)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.reqs = append(w.reqs, wakeRecord{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body, Signed: signedHeader(r.Header)})
		w.mu.Unlock()
		s.tr.Event("wake", "%s %s (%d body bytes)", r.Method, r.URL.RequestURI(), len(body))
		rw.WriteHeader(w.status)
		w.hit <- struct{}{}
	}))
	s.cleanup(w.srv.Close)
	return w
}

func (w *wakeServer) url() string { return w.srv.URL + "/wake/conformance" }

func (w *wakeServer) requests() []wakeRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wakeRecord(nil), w.reqs...)
}

// enrollWithWake enrolls the case's gateway with the wake URL.
func enrollWithWake(s *S, w *wakeServer) {
	t := s.run.conn
	creds, err := t.credsFor(s.ctx, slug(s.c.ID), &enrollSpec{WakeURL: w.url()})
	if err != nil {
		s.Harness("enroll a gateway with a wake URL: %v", err)
	}
	s.tr.Redact(creds.Secret)
	s.cc.creds = creds
}

// flippedAway connects, goes idle and disconnects.
func flippedAway(s *S) {
	p, _ := s.connect()
	goIdle(s, p)
	p.closeNormal()
}

var _ = connectorCase(Case{
	ID:    "WAKE-002/bare-get",
	Reqs:  []string{"WAKE-002", "WAKE-003"},
	Text:  "the first event buffered for a flipped instance triggers one bare GET to its wake URL, and no second one within the cooldown",
	Needs: NeedWake | NeedControl,
}, func(s *S) {
	w := startWake(s, http.StatusNoContent)
	enrollWithWake(s, w)
	flippedAway(s)
	s.inject(s.newMessage("wake up"))
	select {
	case <-w.hit:
	case <-s.ctx.Done():
		s.Harness("case timed out")
	case <-timeAfter(s.within(1)):
		s.Failf("WAKE-002", "a GET to the wake URL after the first buffered event", "no request within %s", s.within(1))
	}
	r := w.requests()[0]
	s.Check(r.Method == http.MethodGet, "WAKE-002", "method GET", "%s", r.Method)
	s.Check(len(r.Body) == 0, "WAKE-002", "no body", "%d bytes", len(r.Body))
	s.Check(r.Auth == "", "WAKE-002", "no credentials", "an Authorization header")
	s.Check(r.Signed == "", "WAKE-002", "no signature and no credentials in any header", "header %s", r.Signed)
	s.Check(r.Path == "/wake/conformance" && r.Query == "", "WAKE-002", "exactly the registered URL", "%s?%s", r.Path, r.Query)
	s.Step("a second buffered event within the cooldown wakes nobody")
	s.inject(s.newMessage("still asleep"))
	select {
	case <-w.hit:
		s.Failf("WAKE-003", "at most one wake request per cooldown", "%d wake requests", len(w.requests()))
	case <-timeAfter(s.quiet()):
	}
})

var _ = connectorCase(Case{
	ID:    "WAKE-004/failure-swallowed",
	Reqs:  []string{"WAKE-004"},
	Text:  "a failing wake request is swallowed: the event stays buffered and is replayed when the gateway reconnects",
	Needs: NeedWake | NeedControl,
}, func(s *S) {
	w := startWake(s, http.StatusInternalServerError)
	enrollWithWake(s, w)
	flippedAway(s)
	m := s.newMessage("wake fails")
	s.inject(m)
	select {
	case <-w.hit:
	case <-timeAfter(s.within(1)):
		s.Untestable("no wake request was sent (see WAKE-002/bare-get)")
	}
	p, _ := s.connect()
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
