package simulator_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

const metricsToken = "ctl-metrics-token"

// scrape reads GET /_relaysim/metrics over HTTP and parses it with the
// Prometheus text parser. A 503 of the connection cap (a slot not freed
// yet) is retried until testkit.Wait.
func scrape(t *testing.T, s *simulator.Server) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, _ := scrapeWith(t, s, http.Header{"Authorization": {"Bearer " + metricsToken}})
	return mfs
}

// scrapeOpen scrapes a simulator without a control token.
func scrapeOpen(t *testing.T, s *simulator.Server) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, _ := scrapeWith(t, s, nil)
	return mfs
}

// scrapeWith also returns how many 503s of the connection cap it retried:
// each is one more refusal in the metrics.
func scrapeWith(t *testing.T, s *simulator.Server, header http.Header) (map[string]*dto.MetricFamily, int) {
	t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	refused := 0
	for {
		status, body, ctype := scrapeRaw(t, s.URL()+simulator.ControlPrefix+"metrics", header)
		if status == http.StatusServiceUnavailable && time.Now().Before(deadline) {
			refused++
			time.Sleep(10 * time.Millisecond) // a poll for a free slot, not an assertion
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("GET /_relaysim/metrics: %d %s", status, body)
		}
		if !strings.HasPrefix(ctype, "text/plain") {
			t.Errorf("metrics Content-Type %q, want the text format", ctype)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("the metrics do not parse as the Prometheus text format: %v\n%s", err, body)
		}
		return mfs, refused
	}
}

func scrapeRaw(t *testing.T, url string, header http.Header) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h // net/http sends req.Host, not a Host header
	}
	// A transport of its own, closed after: the connection-cap part of the
	// test counts connections.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Content-Type")
}

// metricValue returns the value of the series of family name whose labels
// include every pair of labels (name, value, name, value, ...).
func metricValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := lookupMetric(mfs, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the metrics", name, labels)
	}
	return v
}

func lookupMetric(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// expectMetric checks one series' value.
func expectMetric(t *testing.T, mfs map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	if got := metricValue(t, mfs, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// rawGet sends one GET for the health route on a connection of its own and
// reads the answer's status, keeping the connection open: a connection
// the cap accepted answers 200, one beyond it 503.
func rawGet(t *testing.T, addr string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testkit.Wait))
	fmt.Fprintf(c, "GET %shealth HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", simulator.ControlPrefix, addr, metricsToken)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode
}

// The metrics endpoint, scraped through a real HTTP server after real
// gateways drove the simulator, reports what happened: sessions, queues,
// buffers, retained structures and what they dropped, refusals by reason,
// frames by type, goroutines and the heap; and it is guarded like every
// control route.
func TestMetricsEndpoint(t *testing.T) {
	s := start(t, simulator.Options{
		ControlToken:     metricsToken,
		HistorySize:      3, // five sends drop two records
		BufferMaxEntries: 2, // a third buffered event is refused 507
		AuthFailBurst:    2, // the third refused token is throttled 1013
		AuthFailRefill:   time.Hour,
		IdentityTokens:   map[string]string{"id-token": "t1"},
		MaxConns:         12,
		HandshakeTimeout: -1, PingInterval: -1,
	})
	addr := strings.TrimPrefix(s.URL(), "http://")
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-a", Platforms: []string{"discord", "telegram"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-b", InstanceID: "inst-b", Platforms: []string{"discord"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-c", InstanceID: "inst-c", Platforms: []string{"discord"}})

	// The guard: no token, an unknown query parameter, a foreign Host.
	url := s.URL() + simulator.ControlPrefix + "metrics"
	if st, b, _ := scrapeRaw(t, url, nil); st != http.StatusUnauthorized {
		t.Errorf("without the control token: %d %s, want 401", st, b)
	}
	auth := http.Header{"Authorization": {"Bearer " + metricsToken}}
	if st, b, _ := scrapeRaw(t, url+"?name=go_goroutines", auth); st != http.StatusBadRequest || !bytes.Contains(b, []byte(`unknown query parameter \"name\"`)) {
		t.Errorf("with an unknown query parameter: %d %s, want 400 naming it", st, b)
	}
	if st, b, _ := scrapeRaw(t, url, http.Header{"Authorization": auth["Authorization"], "Host": {"evil.example"}}); st != http.StatusForbidden {
		t.Errorf("with Host evil.example: %d %s, want 403", st, b)
	}

	// Before anything happened every documented series is there, at zero.
	mfs := scrape(t, s)
	expectMetric(t, mfs, 0, "relaysim_sessions")
	expectMetric(t, mfs, 0, "relaysim_frames_total", "direction", "in", "type", "hello")
	expectMetric(t, mfs, 0, "relaysim_refusals_total", "answer", "503", "reason", "max_conns")
	expectMetric(t, mfs, 0, "relaysim_token_refusals_total", "route", "upgrade", "reason", "expired")
	expectMetric(t, mfs, 0, "relaysim_stalled_closes_total", "reason", "keepalive_timeout")

	// gw-a handshakes, sends five actions and gets two live events.
	a := dialGW(t, s, "gw-a")
	a.hello("discord")
	for i := range 5 {
		if r := a.call("discord", contract.Action{Op: contract.OpSend, ChatID: "c1", Content: fmt.Sprint("hi ", i)}); !r.Success {
			t.Fatalf("send %d: %+v", i, r)
		}
	}
	for i := range 2 {
		if d := inject(t, s, "gw-a", event("discord", "c1", fmt.Sprint("live ", i))); d.Mode != simulator.DeliveryLive {
			t.Fatalf("inject %d: %+v, want live", i, d)
		}
		a.expect(contract.TypeInbound)
	}
	// gw-b has no socket: two events buffered, the third refused 507.
	for i := range 3 {
		_, err := s.Inject("gw-b", event("discord", "c2", fmt.Sprint("held ", i)))
		if (err != nil) != (i == 2) {
			t.Fatalf("inject %d for gw-b: %v", i, err)
		}
	}
	// gw-c sends a line that is not JSON: closed 1007.
	c := dialGW(t, s, "gw-c")
	c.sendText("not json\n")
	c.expectClose(contract.CloseInvalidPayload, contract.ReasonMalformedFrame)
	awaitJournal(t, s, 0, func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalClose && e.GatewayID == "gw-c"
	})

	// Refused tokens: an unknown gateway and two malformed tokens; the
	// third failure is past the burst of two and is throttled.
	since := s.JournalSeq()
	ghost := contract.MintTokenTTL("ghost", strings.Repeat("ab", 32), time.Now(), time.Minute)
	for _, tok := range []string{ghost, "not-a-token", "not-a-token"} {
		g, err := tryDial(t, s, dialOpts{token: tok})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		g.closed()
	}
	for range 3 {
		since = awaitJournal(t, s, since, kind(simulator.JournalAuth)).Seq
	}
	// An identity bearer nobody configured.
	if st := httpDo(t, http.MethodPost, s.URL()+contract.PathProvision, bearerHeader("wrong"), []byte(`{}`), nil); st != http.StatusUnauthorized {
		t.Errorf("provision with a wrong identity bearer: %d, want 401", st)
	}

	// Connections up to the cap of 12 answer; the next gets 503.
	var held []net.Conn
	refused := false
	for range 16 {
		conn, st := rawGet(t, addr)
		held = append(held, conn)
		if st == http.StatusServiceUnavailable {
			refused = true
			break
		}
	}
	for _, conn := range held {
		conn.Close()
	}
	if !refused {
		t.Fatalf("16 connections on top of the test's own were all accepted with MaxConns 12")
	}

	// The held connections' slots free up as the server sees them close;
	// a scrape that came too early was refused too.
	mfs, early := scrapeWith(t, s, auth)
	expectMetric(t, mfs, 1, "relaysim_sessions")
	expectMetric(t, mfs, 1, "relaysim_sessions_handshaked")
	expectMetric(t, mfs, 0, "relaysim_queue_frames")
	expectMetric(t, mfs, 0, "relaysim_queue_bytes")
	expectMetric(t, mfs, 2, "relaysim_buffer_entries")
	u := s.Usage()
	expectMetric(t, mfs, float64(u.BufferedBytes), "relaysim_buffer_bytes")
	expectMetric(t, mfs, float64(u.BufferedBytes), "relaysim_buffer_max_bytes")
	expectMetric(t, mfs, 3, "relaysim_retained_entries", "structure", "outbound")
	expectMetric(t, mfs, float64(u.Outbound.Bytes), "relaysim_retained_bytes", "structure", "outbound")
	expectMetric(t, mfs, 2, "relaysim_retained_dropped_total", "structure", "outbound")
	if v := metricValue(t, mfs, "relaysim_retained_entries", "structure", "journal"); v < 10 {
		t.Errorf("the journal holds %v entries, want the run's", v)
	}
	expectMetric(t, mfs, 1, "relaysim_refusals_total", "answer", "507", "reason", "buffer_full")
	expectMetric(t, mfs, 1, "relaysim_refusals_total", "answer", "1013", "reason", "auth_throttled")
	expectMetric(t, mfs, float64(1+early), "relaysim_refusals_total", "answer", "503", "reason", "max_conns")
	expectMetric(t, mfs, 1, "relaysim_token_refusals_total", "route", "upgrade", "reason", "unknown_gateway")
	expectMetric(t, mfs, 2, "relaysim_token_refusals_total", "route", "upgrade", "reason", "malformed")
	expectMetric(t, mfs, 1, "relaysim_token_refusals_total", "route", "identity", "reason", "not_accepted")
	expectMetric(t, mfs, 1, "relaysim_closes_total", "by", "relaysim", "code", "1007")
	expectMetric(t, mfs, 1, "relaysim_frames_total", "direction", "in", "type", "hello")
	expectMetric(t, mfs, 5, "relaysim_frames_total", "direction", "in", "type", "outbound")
	expectMetric(t, mfs, 1, "relaysim_frames_total", "direction", "in", "type", "malformed")
	expectMetric(t, mfs, 1, "relaysim_frames_total", "direction", "out", "type", "descriptor")
	expectMetric(t, mfs, 5, "relaysim_frames_total", "direction", "out", "type", "outbound_result")
	expectMetric(t, mfs, 2, "relaysim_frames_total", "direction", "out", "type", "inbound")
	if v := metricValue(t, mfs, "go_goroutines"); v < 5 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v := metricValue(t, mfs, "go_gc_heap_live_bytes"); v <= 0 {
		t.Errorf("go_gc_heap_live_bytes = %v", v)
	}
	if v, ok := lookupMetric(mfs, "process_resident_memory_bytes"); ok && v <= 0 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}

	// gw-a closes normally: no session left, the close counted as the
	// gateway's.
	a.close()
	awaitJournal(t, s, since, func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalClose && e.GatewayID == "gw-a"
	})
	mfs = scrape(t, s)
	expectMetric(t, mfs, 0, "relaysim_sessions")
	expectMetric(t, mfs, 1, "relaysim_closes_total", "by", "gateway", "code", "1000")
}
