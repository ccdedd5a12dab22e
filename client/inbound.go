package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// Handler receives what the connector pushes down the socket.
//
// Every delivery takes one pipeline: admission, then handling, both off
// the reader goroutine, so a slow handler never delays outbound results.
// Deliveries of one session (by session key) are handled one at a time in
// arrival order; different sessions run concurrently. Passthrough forwards
// are ordered per platform, unless their admission names a session. An
// interrupt cancels the context of exactly its session's running handler.
// A handler must not call Client.Close: Close waits for handlers to return.
//
// Admission is what an ack stands for (IDLE-013 to IDLE-015): a buffered
// delivery is acked once admitted, never before, and never when admission
// failed. A plain Handler admits an event by returning nil from
// HandleEvent (or calling Delivery.Ack), and a forward by calling
// PassthroughDelivery.Ack. A Handler that also implements Admitter
// admits each delivery as it arrives, ahead of handling it, so an event
// is acked while the handler of an earlier event of its session still
// runs.
type Handler interface {
	// HandleEvent handles one inbound event. For a plain Handler,
	// returning nil means the event was durably accepted (admitted): a
	// buffered delivery is then acked, unless d.Ack was already called.
	// Returning an error leaves a buffered delivery unacked, so the
	// connector replays it on the next connection. For an Admitter the
	// event was admitted (and acked) before HandleEvent runs, and its
	// return is only logged. ctx is cancelled when the connector
	// interrupts this session (cause ErrInterrupted) or the client closes
	// (cause ErrClosed).
	HandleEvent(ctx context.Context, d *Delivery) error

	// HandleInterrupt is told that the connector interrupted a session;
	// the session's running handler has already had its ctx cancelled.
	HandleInterrupt(ctx context.Context, sessionKey, chatID string)

	// HandlePassthrough handles a raw platform request (such as a Discord
	// interaction). A buffered forward is acked only by d.Ack, which the
	// handler (or the admission) calls once the work is admitted, possibly
	// after returning. Returning an error before acking leaves it
	// replayable.
	HandlePassthrough(ctx context.Context, d *PassthroughDelivery) error
}

// Admitter is a Handler that admits deliveries as they arrive, apart from
// handling them: the reference gateway's admission, where a message counts
// as accepted once its turn is queued, not once the turn is over.
// Admission runs in arrival order per session (per platform for forwards),
// possibly while the session's previous handler still runs, and must not
// wait for that handler. ctx is cancelled only when the client closes.
type Admitter interface {
	Handler

	// AdmitEvent decides whether the event is admitted. On nil a buffered
	// event is acked at once (and any replay of it that arrived
	// meanwhile); then, when handle is true, HandleEvent runs in the
	// session's order. handle false admits the event without handling it,
	// as for a prompt answer the admission consumed. An error refuses it:
	// not acked (IDLE-014) and not handled, so a buffered event replays
	// and a replay is admitted afresh.
	AdmitEvent(ctx context.Context, d *Delivery) (handle bool, err error)

	// AdmitPassthrough decides whether the forward is handled. A forward
	// is still acked only by d.Ack, which admission may call. When handle
	// is true HandlePassthrough runs: in the order of the session named
	// by d.SessionKey when admission set it (an interrupt of that session
	// then cancels it), else per platform. An error not preceded by d.Ack
	// leaves a buffered forward replayable.
	AdmitPassthrough(ctx context.Context, d *PassthroughDelivery) (handle bool, err error)
}

// HandlerFuncs adapts functions to a Handler; nil fields ignore that kind
// of delivery (without acking it).
type HandlerFuncs struct {
	Event       func(ctx context.Context, d *Delivery) error
	Interrupt   func(ctx context.Context, sessionKey, chatID string)
	Passthrough func(ctx context.Context, d *PassthroughDelivery) error
}

var errNoHandler = errors.New("no handler for this delivery")

// ErrInterrupted is the cause (context.Cause) of a handler context the
// connector's interrupt_inbound cancelled; a context cancelled by Close has
// cause ErrClosed. A handler tells the two apart to decide whether the
// event was handled (interrupted: the user asked to stop; ack it) or must
// be replayed (closed: the process is going away).
var ErrInterrupted = errors.New("relay session interrupted")

// HandleEvent calls f.Event.
func (f HandlerFuncs) HandleEvent(ctx context.Context, d *Delivery) error {
	if f.Event == nil {
		return errNoHandler
	}
	return f.Event(ctx, d)
}

// HandleInterrupt calls f.Interrupt.
func (f HandlerFuncs) HandleInterrupt(ctx context.Context, sessionKey, chatID string) {
	if f.Interrupt != nil {
		f.Interrupt(ctx, sessionKey, chatID)
	}
}

// HandlePassthrough calls f.Passthrough.
func (f HandlerFuncs) HandlePassthrough(ctx context.Context, d *PassthroughDelivery) error {
	if f.Passthrough == nil {
		return errNoHandler
	}
	return f.Passthrough(ctx, d)
}

// Delivery is one inbound event handed to HandleEvent (and first to
// Admitter.AdmitEvent when the Handler is one).
type Delivery struct {
	// Event is the decoded event with the gateway's defaults applied.
	Event contract.MessageEvent
	// Raw is the event object as the connector sent it.
	Raw json.RawMessage
	// BufferID is set on buffered replays; live deliveries have none and
	// are never acked.
	BufferID string
	// SessionKey is the event's session key (contract.SessionKey with
	// Options.SessionKeyOptions); interrupts name it.
	SessionKey string

	admit admission
}

// Buffered reports whether the delivery is a buffered replay that needs an
// ack.
func (d *Delivery) Buffered() bool { return d.BufferID != "" }

// Client returns the client the delivery arrived on, so a handler can reply.
func (d *Delivery) Client() *Client { return d.admit.c }

// Ack records that the event is durably accepted and sends inbound_ack for
// a buffered delivery, and for any replay of it that arrived meanwhile. It
// is idempotent and safe from any goroutine. Call it early when admission
// happens before the handler's work is done; otherwise a nil return from
// HandleEvent (from AdmitEvent for an Admitter) acks. An error means the ack could not be written (no live
// socket); the acceptance is still recorded, so the replay that follows is
// acked without being handled again.
func (d *Delivery) Ack() error { return d.admit.ack(d.BufferID) }

// PassthroughDelivery is one passthrough forward handed to HandlePassthrough.
type PassthroughDelivery struct {
	Forward  contract.Forward
	BufferID string
	// SessionKey is "" unless Admitter.AdmitPassthrough set it to the
	// session the forward belongs to (a slash command's, say): the forward
	// is then handled in that session's order, and an interrupt of the
	// session cancels its handler.
	SessionKey string

	admit admission
}

// Buffered reports whether the forward is a buffered replay that needs an
// ack.
func (d *PassthroughDelivery) Buffered() bool { return d.BufferID != "" }

// Client returns the client the forward arrived on.
func (d *PassthroughDelivery) Client() *Client { return d.admit.c }

// Ack records that the forward's work is admitted and sends inbound_ack for
// a buffered forward. Semantics as Delivery.Ack. Acking is the handler's
// job for passthrough (settlement 2): the client never acks a forward on
// its own.
func (d *PassthroughDelivery) Ack() error { return d.admit.ack(d.BufferID) }

// admission ties a delivery to its dedupe entry.
type admission struct {
	c     *Client
	key   string
	entry *ddEntry
	acked atomic.Bool
}

func (a *admission) ack(bufferID string) error {
	if a.acked.Swap(true) {
		return nil
	}
	ids := a.c.dd.admit(a.key, a.entry)
	var firstErr error
	if bufferID != "" {
		firstErr = a.c.sendAck(bufferID)
	}
	for _, id := range ids {
		if err := a.c.sendAck(id); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// sendAck writes inbound_ack on whatever connection is live: the connector
// keys acks by buffer id, not by socket.
func (c *Client) sendAck(bufferID string) error {
	if c.dev.Has(deviation.ClientNoAckBuffered) {
		return nil
	}
	cn := c.cur.Load()
	if cn == nil {
		return fmt.Errorf("failed to ack %s: %w", bufferID, ErrNotConnected)
	}
	if err := cn.sendFrame(contract.InboundAck{BufferID: bufferID}); err != nil {
		return fmt.Errorf("failed to ack %s: %w", bufferID, wrapSend(err))
	}
	return nil
}

// dedupeKey is the replay key of an event: platform, chat and message id.
// An event without a message id is never deduped.
func dedupeKey(ev contract.MessageEvent) string {
	mid := ev.Source.MessageID
	if mid == "" {
		mid = ev.MessageID
	}
	if mid == "" {
		return ""
	}
	return ev.Source.Platform + ":" + ev.Source.ChatID + ":" + mid
}

func (c *Client) onInbound(cn *conn, f contract.Inbound) {
	ev, err := contract.DecodeEvent(f.Event)
	if err != nil {
		cn.log.Warn("relay skipped an undecodable event", slog.String("err", err.Error()))
		return
	}
	if f.BufferID == "" && c.dev.Has(deviation.ClientAckLive) {
		_ = c.sendAckRaw("")
	}
	key := dedupeKey(ev)
	entry, dup, ackNow := c.dd.begin(key, f.BufferID)
	if dup {
		cn.log.Debug("relay dropped a replayed event", slog.String("key", key), slog.Bool("acked", ackNow))
		if ackNow {
			if err := c.sendAck(f.BufferID); err != nil {
				cn.log.Warn("relay ack failed", slog.String("err", err.Error()))
			}
		}
		return
	}
	d := &Delivery{
		Event: ev, Raw: f.Event, BufferID: f.BufferID,
		SessionKey: contract.SessionKey(ev.Source, c.opts.sessKeys),
		admit:      admission{c: c, key: key, entry: entry},
	}
	if d.Buffered() && c.dev.Has(deviation.ClientAckBeforeHandler) {
		_ = d.Ack()
	}
	if !c.inq.acquire(cn.abort) {
		c.dd.abandon(key, entry)
		return
	}
	j := &job{drop: func() { c.dd.abandon(key, entry) }}
	if a, ok := c.opts.Handler.(Admitter); ok {
		j.admit = func(ctx context.Context) (string, bool) {
			handle, err := safeAdmit(func() (bool, error) { return a.AdmitEvent(ctx, d) })
			return d.SessionKey, c.settleEvent(d, err) && handle
		}
		j.run = func(ctx context.Context) {
			if err := safeCall(func() error { return a.HandleEvent(ctx, d) }); err != nil {
				c.log.Warn("relay event handler failed after admission", slog.String("session", d.SessionKey),
					slog.String("err", err.Error()))
			}
		}
	} else {
		j.run = func(ctx context.Context) { c.runEvent(ctx, d) }
	}
	c.inq.submit(d.SessionKey, j)
}

// runEvent runs a plain Handler's HandleEvent, whose return admits the
// event or refuses it.
func (c *Client) runEvent(ctx context.Context, d *Delivery) {
	h := c.opts.Handler
	var err error
	if h == nil {
		err = errNoHandler
	} else {
		err = safeCall(func() error { return h.HandleEvent(ctx, d) })
	}
	c.settleEvent(d, err)
}

// settleEvent settles an event's admission and reports whether it was
// admitted: err refuses it, so it stays unacked (IDLE-014) and its replay
// is handled afresh; nil acks it, with any replay that waited (IDLE-013).
func (c *Client) settleEvent(d *Delivery, err error) bool {
	if err != nil {
		if !d.admit.acked.Load() {
			c.dd.abandon(d.admit.key, d.admit.entry)
		}
		c.log.Warn("relay event not admitted", slog.String("session", d.SessionKey),
			slog.Bool("buffered", d.Buffered()), slog.String("err", err.Error()))
		return false
	}
	if err := d.Ack(); err != nil {
		c.log.Warn("relay ack failed", slog.String("err", err.Error()))
	}
	return true
}

func (c *Client) onPassthrough(cn *conn, f contract.PassthroughForward) {
	if f.BufferID == "" && c.dev.Has(deviation.ClientAckLive) {
		_ = c.sendAckRaw("")
	}
	key := ""
	if f.BufferID != "" {
		key = "passthrough_buffer:" + f.BufferID
	}
	entry, dup, ackNow := c.dd.begin(key, f.BufferID)
	if dup {
		if ackNow {
			if err := c.sendAck(f.BufferID); err != nil {
				cn.log.Warn("relay ack failed", slog.String("err", err.Error()))
			}
		}
		return
	}
	d := &PassthroughDelivery{Forward: f.Forward, BufferID: f.BufferID, admit: admission{c: c, key: key, entry: entry}}
	if d.Buffered() && c.dev.Has(deviation.ClientAckBeforeHandler) {
		_ = d.Ack()
	}
	if !c.inq.acquire(cn.abort) {
		c.dd.abandon(key, entry)
		return
	}
	lane := "passthrough:" + f.Forward.Platform
	// notAdmitted forgets a forward whose handling failed before its ack,
	// so its replay is handled afresh.
	notAdmitted := func(err error) {
		if !d.admit.acked.Load() {
			c.dd.abandon(key, entry)
		}
		c.log.Warn("relay passthrough not admitted", slog.Bool("buffered", d.Buffered()), slog.String("err", err.Error()))
	}
	h := c.opts.Handler
	j := &job{drop: func() { c.dd.abandon(key, entry) }}
	if a, ok := h.(Admitter); ok {
		j.admit = func(ctx context.Context) (string, bool) {
			handle, err := safeAdmit(func() (bool, error) { return a.AdmitPassthrough(ctx, d) })
			if err != nil {
				notAdmitted(err)
				return "", false
			}
			if d.SessionKey != "" {
				return d.SessionKey, handle
			}
			return lane, handle
		}
	}
	j.run = func(ctx context.Context) {
		var err error
		if h == nil {
			err = errNoHandler
		} else {
			err = safeCall(func() error { return h.HandlePassthrough(ctx, d) })
		}
		if err != nil {
			notAdmitted(err)
		}
	}
	c.inq.submit(lane, j)
}

// sendAckRaw writes an ack without the no-ack deviation check; only the
// ack-live deviation uses it.
func (c *Client) sendAckRaw(bufferID string) error {
	cn := c.cur.Load()
	if cn == nil {
		return ErrNotConnected
	}
	return cn.sendFrame(contract.InboundAck{BufferID: bufferID})
}

func (c *Client) onInterrupt(f contract.InterruptInbound) {
	c.inq.interrupt(f.SessionKey)
	h := c.opts.Handler
	if h == nil {
		return
	}
	c.inq.goTracked(func(ctx context.Context) {
		_ = safeCall(func() error { h.HandleInterrupt(ctx, f.SessionKey, f.ChatID); return nil })
	})
}

// safeCall runs a handler, turning a panic into an error so a faulty
// handler never takes the client down.
func safeCall(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return fn()
}

// safeAdmit is safeCall for an admission.
func safeAdmit(fn func() (bool, error)) (handle bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			handle, err = false, fmt.Errorf("admission panicked: %v", p)
		}
	}()
	return fn()
}

// dedupe remembers the most recent delivery keys so replays of work already
// taken are not handled twice.
type dedupe struct {
	mu   sync.Mutex
	m    map[string]*ddEntry
	ring []string
	pos  int
}

type ddEntry struct {
	admitted bool
	waiters  []string // buffer ids of replays that arrived while in flight
}

func newDedupe(n int) *dedupe {
	return &dedupe{m: make(map[string]*ddEntry, n), ring: make([]string, n)}
}

// begin registers a delivery. dup reports a replay of a known key; ackNow
// says the original was already admitted, so the replay must be acked at
// once. A replay of one still in flight is acked when the original is.
func (d *dedupe) begin(key, bufferID string) (e *ddEntry, dup, ackNow bool) {
	if key == "" {
		return &ddEntry{}, false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.m[key]; ok {
		if old.admitted {
			return old, true, bufferID != ""
		}
		if bufferID != "" {
			old.waiters = append(old.waiters, bufferID)
		}
		return old, true, false
	}
	e = &ddEntry{}
	if evicted := d.ring[d.pos]; evicted != "" {
		delete(d.m, evicted)
	}
	d.ring[d.pos] = key
	d.pos = (d.pos + 1) % len(d.ring)
	d.m[key] = e
	return e, false, false
}

// admit marks an entry admitted and returns the waiters to ack.
func (d *dedupe) admit(key string, e *ddEntry) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	e.admitted = true
	w := e.waiters
	e.waiters = nil
	return w
}

// abandon forgets a delivery that was not admitted, so its next replay is
// handled again.
func (d *dedupe) abandon(key string, e *ddEntry) {
	if key == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m[key] == e && !e.admitted {
		delete(d.m, key)
		for i, k := range d.ring {
			if k == key {
				d.ring[i] = ""
			}
		}
	}
}
