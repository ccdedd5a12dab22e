// Package wspeer is the module's one WebSocket test peer: the socket the
// conformance suite, the bad-input catalogue and the soak open to a
// connector when they play a gateway by hand.
//
// [Dial] opens a [Conn] with an optional bearer token and extra headers;
// a Conn sends raw bytes or canonical frames and reads messages one at a
// time, which is what a test that must stall its reader needs. [Receive]
// starts a reader goroutine instead: it splits every message into NDJSON
// frames, queues them for waits on the test's goroutine, and reports the
// close code, the pings and the bytes still waiting for a newline. Hooks
// let the caller keep a transcript; the package itself logs nothing, so
// redaction stays the caller's.
package wspeer

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
)

// Options shape one dial.
type Options struct {
	// Token, when not "", is sent as "Authorization: Bearer <Token>",
	// replacing any Authorization in Header.
	Token string
	// Header holds extra upgrade request headers; nil sends none.
	Header http.Header
	// HTTPClient sends the upgrade request. Default: coder/websocket's
	// default client.
	HTTPClient *http.Client
	// ReadLimit caps one WebSocket message. Default 4 ×
	// contract.MaxFrameSize (a connector may batch frames in one
	// message); -1 lifts the cap.
	ReadLimit int64
	// OnPing is called for every ping the other side sends, on the
	// reading goroutine, after the ping is counted.
	OnPing func()
}

// Conn is one WebSocket connection to the implementation under test.
type Conn struct {
	ws    *websocket.Conn
	pings atomic.Int64

	mu     sync.Mutex
	onPing []func() // the dialer's hook, then the receiver's
}

// Dial opens a connection to url (ws:// or wss://). A refused upgrade
// returns the error and, when the server answered, its response, so that
// the caller can judge the status.
func Dial(ctx context.Context, url string, o Options) (*Conn, *http.Response, error) {
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	if o.Token != "" {
		h.Set("Authorization", "Bearer "+o.Token)
	}
	c := &Conn{}
	if o.OnPing != nil {
		c.onPing = append(c.onPing, o.OnPing)
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: h,
		HTTPClient: o.HTTPClient,
		OnPingReceived: func(context.Context, []byte) bool {
			c.pings.Add(1)
			c.mu.Lock()
			hooks := c.onPing
			c.mu.Unlock()
			for _, f := range hooks {
				f()
			}
			return true
		},
	})
	if err != nil {
		return nil, resp, err
	}
	limit := o.ReadLimit
	if limit == 0 {
		limit = 4 * contract.MaxFrameSize
	}
	ws.SetReadLimit(limit)
	c.ws = ws
	return c, resp, nil
}

// Pings returns how many pings the other side sent so far.
func (c *Conn) Pings() int { return int(c.pings.Load()) }

// Read reads one message. Use it only on a Conn no [Receiver] reads.
func (c *Conn) Read(ctx context.Context) (msg []byte, binary bool, err error) {
	typ, msg, err := c.ws.Read(ctx)
	return msg, typ == websocket.MessageBinary, err
}

// Write writes b as one message, exactly as given.
func (c *Conn) Write(ctx context.Context, b []byte, binary bool) error {
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	return c.ws.Write(ctx, typ, b)
}

// WriteText writes s as one text message.
func (c *Conn) WriteText(ctx context.Context, s string) error {
	return c.ws.Write(ctx, websocket.MessageText, []byte(s))
}

// WriteFrame writes f, encoded canonically with its newline, as one text
// message.
func (c *Conn) WriteFrame(ctx context.Context, f contract.Frame) error {
	b, err := contract.EncodeFrame(f)
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// Close closes with code and reason and waits for the other side's close
// (bounded by coder/websocket's own 5 s handshake timeout).
func (c *Conn) Close(code int, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), reason)
}

// Ping sends a ping and waits for its pong. A pong is only read while
// something reads the connection: a [Receiver], or a Read in progress.
func (c *Conn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }

// CloseNow drops the connection without a close handshake.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

// CloseOf returns the close code and reason an error of Read carries;
// ok is false when the connection ended without a close frame.
func CloseOf(err error) (code int, reason string, ok bool) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason, true
	}
	return -1, "", false
}
