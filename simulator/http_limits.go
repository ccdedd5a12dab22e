package simulator

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Defaults of the HTTP server limits (Options.ReadHeaderTimeout and the
// fields after it). They keep a peer that trickles, stalls or idles from
// holding a connection, a goroutine or memory for long; relaysim's own
// traffic is small and local, so they are far from what it needs.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultMediaTimeout      = 5 * time.Minute
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
)

// maxConnsCeiling is DefaultMaxConns on a process whose file limit is
// high enough.
const maxConnsCeiling = 4096

// DefaultMaxConns is the default of Options.MaxConns: 4096, or three
// quarters of the process's open-file limit when that is lower (at least
// 16), so connections can never use up the descriptors the store, media
// files and the listener itself need.
func DefaultMaxConns() int {
	n := maxConnsCeiling
	if files := openFileLimit(); files > 0 && files*3/4 < n {
		n = max(16, files*3/4)
	}
	return n
}

func (c *config) serverLimitDefaults() {
	for _, f := range []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&c.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&c.ReadTimeout, DefaultReadTimeout},
		{&c.WriteTimeout, DefaultWriteTimeout}, {&c.MediaTimeout, DefaultMediaTimeout},
		{&c.IdleTimeout, DefaultIdleTimeout},
	} {
		if *f.d <= 0 {
			*f.d = f.def
		}
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns()
	}
}

// httpServer builds the server Start serves with. net/http's timeouts run
// on the wall clock; deadlines per route are set by withDeadlines.
func (s *Server) httpServer() *http.Server {
	c := s.cfg
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		// Accept errors, TLS noise and the like are debug detail.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// withDeadlines gives each route its own read and write deadlines on top of
// the server's ReadTimeout and WriteTimeout: media gets MediaTimeout, a
// long-polling journal read its wait on top of WriteTimeout, and a /relay
// upgrade none at all, because the socket it becomes lives for hours and
// must not inherit a deadline meant for one request (keepalive and the
// handshake timeout govern it). A server that does not support deadlines
// (a caller's own, say) is left as it is.
func (s *Server) withDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now() // net/http deadlines are wall-clock deadlines
		p := r.URL.Path
		switch {
		case p == contract.PathRelay && isWebSocketUpgrade(r):
			rc.SetReadDeadline(time.Time{})
			rc.SetWriteDeadline(time.Time{})
		case p == contract.PathMedia || strings.HasPrefix(p, contract.PathMedia+"/"):
			d := now.Add(s.cfg.MediaTimeout)
			rc.SetReadDeadline(d)
			rc.SetWriteDeadline(d)
		case p == ControlPrefix+"journal":
			// The long poll may wait up to 5 min (ctlJournal refuses more).
			if wait, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil && wait > 0 && wait <= 5*time.Minute {
				rc.SetWriteDeadline(now.Add(s.cfg.WriteTimeout + wait))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// refusalAnswer is written to a connection beyond Options.MaxConns.
const refusalAnswer = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/json\r\n" +
	"Cache-Control: no-store\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"Content-Length: 33\r\n" +
	"\r\n" +
	`{"error":"too many connections"}` + "\n"

// A refused connection waits at most refusalLinger for its request head
// before the answer, because an HTTP client that gets a response before it
// has written its request may report it as unsolicited and fail the request
// instead of reading the 503; a client that says nothing gets the answer
// when the wait ends. It then lingers as long again, draining what the
// client sent, so closing does not reset the connection before the client
// read the answer. At most maxLingering wait at once; the rest are answered
// and closed at once.
const (
	refusalLinger   = 250 * time.Millisecond
	maxLingering    = 64
	maxRefusedHead  = 8 << 10
	refusalHeadDone = "\r\n\r\n"
)

// connLimiter is a listener that keeps at most max connections open. It
// accepts every connection, so the kernel's backlog never fills with
// clients that wait without an answer, and answers those beyond max with
// refusalAnswer.
type connLimiter struct {
	net.Listener
	s         *Server
	max       int64
	open      atomic.Int64
	lingering atomic.Int32
	refused   atomic.Uint64
	lastWarn  atomic.Int64 // unix nanoseconds on the server's clock
}

func newConnLimiter(ln net.Listener, s *Server, max int) *connLimiter {
	return &connLimiter{Listener: ln, s: s, max: int64(max)}
}

// Accept returns the next connection within the cap; the ones beyond it
// are refused on the way.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refuse(c)
	}
}

func (l *connLimiter) refuse(c net.Conn) {
	n := l.refused.Add(1)
	now := l.s.clk.Now().UnixNano()
	if last := l.lastWarn.Load(); now-last >= int64(10*time.Second) && l.lastWarn.CompareAndSwap(last, now) {
		l.s.log.Warn("relaysim: connection limit reached; refusing connections with 503", "maxConns", l.max, "refusedSoFar", n)
	}
	if l.lingering.Add(1) > maxLingering || !l.s.track() {
		l.lingering.Add(-1)
		c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		io.WriteString(c, refusalAnswer)
		c.Close()
		return
	}
	go func() {
		defer l.s.untrack()
		defer l.lingering.Add(-1)
		c.SetDeadline(time.Now().Add(refusalLinger))
		awaitRequestHead(c)
		c.SetDeadline(time.Now().Add(refusalLinger))
		io.WriteString(c, refusalAnswer)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		c.Close()
	}()
}

// awaitRequestHead reads from c until the blank line that ends an HTTP
// request head, maxRefusedHead bytes, an error or c's deadline, whichever
// comes first. It never parses what it reads: the answer is the same.
func awaitRequestHead(c net.Conn) {
	buf := make([]byte, 1024)
	var tail []byte // the last bytes read, for a terminator split across reads
	for total := 0; total < maxRefusedHead; {
		n, err := c.Read(buf)
		total += n
		tail = append(tail, buf[:n]...)
		if strings.Contains(string(tail), refusalHeadDone) || err != nil {
			return
		}
		if len(tail) > len(refusalHeadDone) {
			tail = tail[len(tail)-len(refusalHeadDone)+1:]
		}
	}
}

// limitedConn gives its slot back when closed, whoever closes it: net/http
// for a request connection, the WebSocket library for a hijacked one.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// ReadFrom keeps net/http's sendfile path for media downloads.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets net/http half-close before closing, so a client whose
// body was not read still gets the answer instead of a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// isLoopbackListener reports whether addr accepts connections only from
// this host.
func isLoopbackListener(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
