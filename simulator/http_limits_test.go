package simulator_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// These tests attack the simulator's HTTP server over real sockets with
// short configured limits. net/http's timeouts run on the wall clock, so
// each test waits for what the limit must cause (the server closing the
// connection) and never sleeps to decide anything.

// rawConn opens a TCP connection to the simulator.
func rawConn(t *testing.T, s *simulator.Server) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "http://"), testkit.Wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closeWithin bounds the wait for a limit of a few hundred milliseconds to
// cut a connection off: far above it, and below net/http's own defaults
// (and the 10 s header timeout relaysim always had), so a limit that is
// ignored fails the test.
const closeWithin = 5 * time.Second

// awaitServerClose reads until the server closes c and returns what it
// sent; it fails the test when c is still open after closeWithin.
func awaitServerClose(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(closeWithin))
	var got bytes.Buffer
	_, err := io.Copy(&got, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s; it sent %q", closeWithin, got.String())
	}
	return got.String()
}

// head starts a raw request: the request line and a Host header naming
// the server, as a loopback client would send.
func head(s *simulator.Server, method, path string) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, strings.TrimPrefix(s.URL(), "http://"))
}

// trickledInbound is the start of a control API request whose 100,000-byte
// JSON body a trickle never finishes.
func trickledInbound(s *simulator.Server) string {
	return head(s, "POST", simulator.ControlPrefix+"inbound") + "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
}

// trickle writes prefix, then one byte of filler every 10 ms until the
// returned stop is called or a write fails.
func trickle(c net.Conn, prefix string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := io.WriteString(c, prefix); err != nil {
			return
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte{'a'}); err != nil {
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }); wg.Wait() }
}

// A client that sends its headers byte by byte (slowloris) is cut off
// after ReadHeaderTimeout.
func TestSlowlorisHeadersCutOff(t *testing.T) {
	s := start(t, simulator.Options{ReadHeaderTimeout: 200 * time.Millisecond})
	c := rawConn(t, s)
	stop := trickle(c, head(s, "GET", simulator.ControlPrefix+"health")+"X-Slow: ")
	defer stop()
	began := time.Now()
	if got := awaitServerClose(t, c); strings.Contains(got, "200 OK") {
		t.Fatalf("a request whose headers never ended was served: %q", got)
	}
	t.Logf("slowloris cut off after %v", time.Since(began).Round(time.Millisecond))
}

// A body trickled byte by byte is cut off after ReadTimeout.
func TestTrickledBodyCutOff(t *testing.T) {
	s := start(t, simulator.Options{ReadTimeout: 300 * time.Millisecond})
	c := rawConn(t, s)
	stop := trickle(c, trickledInbound(s))
	defer stop()
	if got := awaitServerClose(t, c); !strings.HasPrefix(got, "HTTP/1.1 408 ") || !strings.Contains(got, "read timeout") {
		t.Fatalf("a body that never ended got %q, want 408 and the close", got)
	}
}

// A keep-alive connection that sends no next request is closed after
// IdleTimeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	s := start(t, simulator.Options{IdleTimeout: 200 * time.Millisecond})
	c := rawConn(t, s)
	io.WriteString(c, head(s, "GET", simulator.ControlPrefix+"health")+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d, close %v", resp.StatusCode, resp.Close)
	}
	if got := awaitServerClose(t, c); got != "" {
		t.Fatalf("idle connection got %q", got)
	}
}

// Oversized headers get 431 with the default MaxHeaderBytes (32 KiB);
// headers within it are served.
func TestOversizedHeaders431(t *testing.T) {
	s := start(t, simulator.Options{})
	ask := func(headerBytes int) int {
		c := rawConn(t, s)
		fmt.Fprintf(c, "%sX-Big: %s\r\n\r\n", head(s, "GET", simulator.ControlPrefix+"health"), strings.Repeat("h", headerBytes))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%d-byte header: %v", headerBytes, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ask(16 << 10); code != 200 {
		t.Fatalf("16 KiB header: %d", code)
	}
	if code := ask(1 << 20); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("1 MiB header: %d, want 431", code)
	}
}

// Connections beyond MaxConns, WebSocket sockets counted, get a 503 with
// Retry-After and a JSON error; once the holders go, a legitimate request
// succeeds again.
func TestConnectionCap(t *testing.T) {
	s := start(t, simulator.Options{MaxConns: 3})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw"})
	gw := dialGW(t, s, "gw")
	gw.hello("discord")
	var holders []net.Conn
	for i := 0; i < 2; i++ {
		c := rawConn(t, s)
		io.WriteString(c, head(s, "GET", simulator.ControlPrefix+"health")+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("holder %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
		holders = append(holders, c) // an idle keep-alive: it keeps its slot
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(s.URL() + simulator.ControlPrefix + "health")
	if err != nil {
		t.Fatalf("over the cap: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || strings.TrimSpace(string(body)) != `{"error":"too many connections"}` {
		t.Fatalf("over the cap: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	// A client that sends nothing gets the same answer, then EOF.
	if got := awaitServerClose(t, rawConn(t, s)); !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Fatalf("silent client over the cap got %q", got)
	}
	gw.close()
	for _, c := range holders {
		c.Close()
	}
	// The slots come back as the server sees the closes.
	deadline := time.Now().Add(testkit.Wait)
	for {
		resp, err := client.Get(s.URL() + simulator.ControlPrefix + "health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no legitimate request succeeded after the holders left: %v %v", resp, err)
		}
	}
}

// A WebSocket outlives ReadTimeout and WriteTimeout: they bound requests,
// not the socket an upgrade becomes.
func TestWebSocketOutlivesRequestTimeouts(t *testing.T) {
	s := start(t, simulator.Options{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw"})
	gw := dialGW(t, s, "gw")
	gw.hello("discord")
	// A trickled body opened after the socket is cut off by ReadTimeout:
	// when it is, the socket is older than both timeouts.
	c := rawConn(t, s)
	stop := trickle(c, trickledInbound(s))
	awaitServerClose(t, c)
	stop()
	if _, err := s.Inject("gw", []byte(`{"text":"still here","source":{"platform":"discord","chat_id":"c","chat_type":"dm","user_id":"u"}}`)); err != nil {
		t.Fatal(err)
	}
	gw.expect(contract.TypeInbound)
	if r := gw.call("discord", contract.Action{Op: contract.OpSend, ChatID: "c", Content: "hi"}); !r.Success {
		t.Fatalf("outbound: %+v", r)
	}
}

// Media downloads stream from the store's file: clients that stop reading
// hold no copy of the item in memory, and MediaTimeout cuts them off.
func TestStalledMediaDownloadsHoldNoCopies(t *testing.T) {
	st, err := simulator.OpenFileStore(filepath.Join(t.TempDir(), "store"), simulator.FileStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The item is put in the store before the server starts (which loads
	// it), so no upload has to beat the short MediaTimeout.
	const size = 16 << 20
	item := contract.MediaUploadResponse{ID: strings.Repeat("ab", 16), Size: size}
	if err := st.PutMedia(simulator.MediaRecord{ID: item.ID, Tenant: simulator.DefaultTenant, ContentType: "application/octet-stream",
		Size: size, Expires: time.Now().Add(time.Hour)}, bytes.Repeat([]byte{'m'}, size)); err != nil {
		t.Fatal(err)
	}
	s := start(t, simulator.Options{Store: st, MediaTimeout: time.Second})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw"})
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	since := s.JournalSeq()
	const readers = 8
	for i := 0; i < readers; i++ {
		c := rawConn(t, s)
		fmt.Fprintf(c, "%sAuthorization: Bearer %s\r\n\r\n", head(s, "GET", contract.PathMedia+"/"+item.ID), mustToken(t, s, "gw"))
		// Read the status line, then stop reading: the server is now
		// writing the body into a socket nobody drains.
		line, err := bufio.NewReaderSize(c, 16).ReadString('\n')
		if err != nil || !strings.Contains(line, "200") {
			t.Fatalf("reader %d: %q %v", i, line, err)
		}
	}
	grew := heap() - before
	t.Logf("%d stalled downloads of a %d MiB item: heap grew %d KiB", readers, size>>20, grew>>10)
	if grew > 3*size {
		t.Fatalf("%d stalled downloads of a %d MiB item grew the heap by %d MiB", readers, size>>20, grew>>20)
	}
	// Each download ends when MediaTimeout cuts it off.
	served := 0
	for served < readers {
		e := awaitJournal(t, s, since, func(e simulator.JournalEntry) bool {
			return e.Kind == simulator.JournalHTTP && e.Method == "GET" && strings.HasPrefix(e.Path, contract.PathMedia)
		})
		since = e.Seq
		served++
	}
	if _, err := os.Stat(st.MediaDir()); err != nil {
		t.Fatal(err)
	}
}

// firstRead signals when the handler first reads the body.
type firstRead struct {
	io.Reader
	once sync.Once
	ch   chan struct{}
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.ch) })
	return f.Reader.Read(p)
}

// An upload reserves its announced size in MediaMaxTotal before its body
// is read, so uploads in flight (trickled ones included) never hold more
// than the cap in memory.
func TestMediaUploadReservesBeforeReading(t *testing.T) {
	s := start(t, simulator.Options{MediaMaxTotal: 1 << 20})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw"})
	pr, pw := io.Pipe()
	reading := make(chan struct{})
	req := httptest.NewRequest(http.MethodPost, contract.PathMedia, &firstRead{Reader: pr, ch: reading})
	req.ContentLength = 800 << 10
	req.Header.Set("Authorization", "Bearer "+mustToken(t, s, "gw"))
	done := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		done <- rec.Code
	}()
	select {
	case <-reading:
	case <-time.After(testkit.Wait):
		t.Fatal("the handler never read the body")
	}
	var e contract.ErrorBody
	if code := httpDo(t, "POST", s.URL()+contract.PathMedia, bearerHeader(mustToken(t, s, "gw")), bytes.Repeat([]byte{'x'}, 300<<10), &e); code != 507 {
		t.Fatalf("a second upload while 800 KiB are on their way: %d %+v", code, e)
	}
	pw.Write(bytes.Repeat([]byte{'y'}, 800<<10))
	pw.Close()
	if code := <-done; code != 200 {
		t.Fatalf("the first upload: %d", code)
	}
	if code := httpDo(t, "POST", s.URL()+contract.PathMedia, bearerHeader(mustToken(t, s, "gw")), bytes.Repeat([]byte{'x'}, 200<<10), nil); code != 200 {
		t.Fatalf("an upload that fits: %d", code)
	}
}

// A journal long poll outlives WriteTimeout: its answer gets the wait on
// top. (net/http clears the read deadline while a handler runs.)
func TestJournalLongPollOutlivesRequestTimeouts(t *testing.T) {
	s := start(t, simulator.Options{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	since := s.JournalSeq()
	type answer struct {
		Entries []simulator.JournalEntry `json:"entries"`
	}
	got := make(chan answer, 1)
	wrote := make(chan struct{})
	go func() {
		var a answer
		// Only control entries end the poll, so the attack below, which
		// the journal may record, does not.
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%sjournal?since=%d&kind=control&wait=%s", s.URL(), simulator.ControlPrefix, since, testkit.Wait), nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
		}))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
		}
		got <- a
	}()
	<-wrote
	// A trickled body is cut off by ReadTimeout; when the second one
	// opened after the poll is, the poll is older than both timeouts.
	for i := 0; i < 2; i++ {
		c := rawConn(t, s)
		stop := trickle(c, trickledInbound(s))
		awaitServerClose(t, c)
		stop()
	}
	select {
	case a := <-got:
		t.Fatalf("the long poll ended before any entry, with %d entries", len(a.Entries))
	default:
	}
	if err := deviation.Apply(s, 0); err != nil { // journals a control entry
		t.Fatal(err)
	}
	select {
	case a := <-got:
		if len(a.Entries) == 0 {
			t.Fatal("the long poll ended without the entry")
		}
	case <-time.After(testkit.Wait):
		t.Fatal("the long poll never answered")
	}
}
