package client

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// dialConn opens one connection: it mints a fresh token (every dial gets
// its own), upgrades, and starts the reader and keepalive. The supervisor
// then installs it and sends the hellos; the descriptor arrives through
// the reader.
func (c *Client) dialConn(ctx context.Context, fresh bool) (*conn, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := c.clk.AfterFunc(c.opts.DialTimeout, cancel)
	defer t.Stop()

	hdr := http.Header{}
	if tok := c.token(); tok != "" {
		hdr.Set("Authorization", "Bearer "+tok)
	}
	slot := &corkSlot{}
	ws, resp, err := websocket.Dial(context.WithValue(dctx, corkKey{}, slot), c.dialURL, &websocket.DialOptions{
		HTTPClient: c.dialHC,
		HTTPHeader: hdr,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			// An HTTP-level refusal (401, 403, 400, 409...) is an ordinary
			// dial error, never a revocation: only a 4401 close is.
			return nil, &DialError{URL: c.safeURL, StatusCode: resp.StatusCode, Err: err}
		}
		if dctx.Err() != nil && ctx.Err() == nil {
			return nil, &DialError{URL: c.safeURL, Timeout: c.opts.DialTimeout, Err: dctx.Err()}
		}
		return nil, &DialError{URL: c.safeURL, Err: redactErr(err, c.dialURL, c.safeURL)}
	}

	c.mu.Lock()
	c.connSeq++
	id := c.connSeq
	c.mu.Unlock()
	cn := newConn(c, ws, id, fresh)
	cn.cork = slot.conn
	cn.start()
	return cn, nil
}

// sendHellos writes one hello per identity, in order, without waiting for
// replies, and then lets other writers through. It runs after the
// connection was installed, so a handler woken by an early delivery can
// already use the client; writers other than Do (which waits for the
// descriptor) wait for the hellos, so nothing precedes them on the wire.
func (cn *conn) sendHellos() {
	defer close(cn.helloed)
	ids := cn.c.ids
	if cn.c.dev.Has(deviation.ClientNoHelloPerIdentity) {
		ids = ids[:1]
	}
	for _, ident := range ids {
		h := contract.Hello{Platform: ident.Platform, BotID: ident.BotID, CommandManifest: ident.CommandManifest}
		if err := cn.writeFrame(h); err != nil {
			// The reader will see the close and report its code (a 4401
			// here still counts against this connection).
			cn.log.Warn("relay hello failed", slog.String("platform", ident.Platform), slog.String("err", err.Error()))
			return
		}
	}
}

// redactErr rewrites an error whose text repeats the raw dial URL so that
// it carries the redacted one instead; errors.Is still sees the cause.
func redactErr(err error, raw, safe string) error {
	if raw == safe || !strings.Contains(err.Error(), raw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), raw, safe), cause: err}
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
