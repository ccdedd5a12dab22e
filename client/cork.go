package client

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// corkConn coalesces the socket writes of concurrent outbound calls.
//
// coder/websocket flushes every message with its own write(2), under its
// own lock; on loopback that syscall is most of an outbound call's cost.
// Each frame must stay its own WebSocket message (TRN-013), but nothing
// stops several messages from sharing one TCP write. A caller that promises
// to flush afterwards (hold, then release) lets its bytes wait in pending;
// release writes everything pending in one syscall, outside the WebSocket
// lock, so writers that queued meanwhile ride along. Writes nobody holds
// for (control frames, hellos) are flushed at once, so nothing ever waits
// for a flush that is not coming.
//
// Because a batch mixes frames, a failed flush cannot always say whose
// bytes went out. release therefore reports whether any byte at or after
// the holder's start offset was written: if none was, the frame certainly
// never reached the peer; otherwise the caller must treat it as possibly
// delivered (ambiguous), never as definitely not sent.
type corkConn struct {
	net.Conn

	mu       sync.Mutex
	pending  []byte
	spare    []byte
	holders  int   // writers that will call release
	flushing bool  // a flusher is writing; it loops until pending is empty
	appended int64 // bytes ever queued
	written  int64 // bytes the socket accepted, partial writes included
	err      error
}

// hold promises a release and returns the offset the holder's bytes will
// start at or after.
func (w *corkConn) hold() int64 {
	w.mu.Lock()
	w.holders++
	a := w.appended
	w.mu.Unlock()
	return a
}

// release flushes. On failure, maybeSent says whether bytes at or after
// start reached the socket, so the holder's frame may have been delivered.
func (w *corkConn) release(start int64) (maybeSent bool, err error) {
	w.mu.Lock()
	w.holders--
	if err := w.flushLocked(); err != nil {
		w.mu.Lock()
		maybeSent = w.written > start
		w.mu.Unlock()
		return maybeSent, err
	}
	return true, nil
}

func (w *corkConn) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return 0, err
	}
	w.pending = append(w.pending, p...)
	w.appended += int64(len(p))
	if w.holders > 0 || w.flushing {
		w.mu.Unlock()
		return len(p), nil
	}
	return len(p), w.flushLocked()
}

// flushLocked writes everything pending. It is called with mu held and
// returns with it released. While one flusher runs, others return at once:
// the running one loops until nothing is left.
func (w *corkConn) flushLocked() error {
	if w.flushing {
		w.mu.Unlock()
		return nil
	}
	w.flushing = true
	failed := false
	for len(w.pending) > 0 && w.err == nil {
		buf := w.pending
		w.pending = w.spare[:0]
		w.mu.Unlock()
		n, err := w.Conn.Write(buf)
		w.mu.Lock()
		w.written += int64(n)
		if cap(buf) <= 256<<10 {
			w.spare = buf[:0]
		} else {
			w.spare = nil
		}
		if err != nil {
			w.err = err
			failed = true
		}
	}
	w.flushing = false
	err := w.err
	w.mu.Unlock()
	if failed {
		// The stream is broken mid-batch; make sure the reader sees it.
		_ = w.Conn.Close()
	}
	return err
}

// Close writes what is still pending (a close frame, typically) and closes.
func (w *corkConn) Close() error {
	w.mu.Lock()
	if !w.flushing && len(w.pending) > 0 && w.err == nil {
		buf := w.pending
		w.pending = nil
		w.mu.Unlock()
		_, _ = w.Conn.Write(buf)
	} else {
		w.mu.Unlock()
	}
	return w.Conn.Close()
}

// corkSlot carries the dialled corkConn out of the HTTP transport, through
// the dial's context.
type corkSlot struct{ conn *corkConn }

type corkKey struct{}

// dialClient returns the HTTP client used for upgrades: a copy of base whose
// transport wraps each new TCP connection in a corkConn. Keep-alives are
// off because an upgraded connection is never reused, and a refused one
// must not linger in a pool. When base's transport is not an
// *http.Transport it is used as is, without corking.
func dialClient(base *http.Client) (*http.Client, *http.Transport) {
	hc := safeHTTPClient(base, 0)
	var tr *http.Transport
	switch t := hc.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return hc, nil
	}
	tr.DisableKeepAlives = true
	tr.ForceAttemptHTTP2 = false
	inner := tr.DialContext
	if inner == nil {
		var d net.Dialer
		inner = d.DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := inner(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		slot, ok := ctx.Value(corkKey{}).(*corkSlot)
		if !ok {
			return c, nil
		}
		cc := &corkConn{Conn: c}
		slot.conn = cc
		return cc, nil
	}
	hc.Transport = tr
	return hc, tr
}
