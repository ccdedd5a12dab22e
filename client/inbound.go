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
// Handlers run off the reader goroutine, so a slow handler never delays
// outbound results. Deliveries of one session (by session key) are handled
// one at a time in arrival order; different sessions run concurrently.
// Passthrough forwards are ordered per platform. A handler must not call
// Client.Close: Close waits for handlers to return.
type Handler interface {
	// HandleEvent handles one inbound event. Returning nil means the event
	// was durably accepted (admitted): a buffered delivery is then acked,
	// unless d.Ack was already called. Returning an error leaves a buffered
	// delivery unacked, so the connector replays it on the next connection.
	// ctx is cancelled when the connector interrupts this session (cause
	// ErrInterrupted) or the client closes (cause ErrClosed).
	HandleEvent(ctx context.Context, d *Delivery) error

	// HandleInterrupt is told that the connector interrupted a session;
	// the session's running HandleEvent has already had its ctx cancelled.
	HandleInterrupt(ctx context.Context, sessionKey, chatID string)

	// HandlePassthrough handles a raw platform request (such as a Discord
	// interaction). A buffered forward is acked only by d.Ack, which the
	// handler calls once the work is admitted, possibly after returning.
	// Returning an error before acking leaves it replayable.
	HandlePassthrough(ctx context.Context, d *PassthroughDelivery) error
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

// Delivery is one inbound event handed to HandleEvent.
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
// HandleEvent acks. An error means the ack could not be written (no live
// socket); the acceptance is still recorded, so the replay that follows is
// acked without being handled again.
func (d *Delivery) Ack() error { return d.admit.ack(d.BufferID) }

// PassthroughDelivery is one passthrough forward handed to HandlePassthrough.
type PassthroughDelivery struct {
	Forward  contract.Forward
	BufferID string

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
	c.inq.enqueue(d.SessionKey, func(ctx context.Context) { c.runEvent(ctx, d) })
}

func (c *Client) runEvent(ctx context.Context, d *Delivery) {
	h := c.opts.Handler
	var err error
	if h == nil {
		err = errNoHandler
	} else {
		err = safeCall(func() error { return h.HandleEvent(ctx, d) })
	}
	if err != nil {
		if !d.admit.acked.Load() {
			c.dd.abandon(d.admit.key, d.admit.entry)
		}
		c.log.Warn("relay event not admitted", slog.String("session", d.SessionKey),
			slog.Bool("buffered", d.Buffered()), slog.String("err", err.Error()))
		return
	}
	if err := d.Ack(); err != nil {
		c.log.Warn("relay ack failed", slog.String("err", err.Error()))
	}
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
	c.inq.enqueue("passthrough:"+f.Forward.Platform, func(ctx context.Context) {
		h := c.opts.Handler
		var err error
		if h == nil {
			err = errNoHandler
		} else {
			err = safeCall(func() error { return h.HandlePassthrough(ctx, d) })
		}
		if err != nil {
			if !d.admit.acked.Load() {
				c.dd.abandon(key, entry)
			}
			c.log.Warn("relay passthrough not admitted", slog.Bool("buffered", d.Buffered()), slog.String("err", err.Error()))
		}
	})
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

// inboundQueue runs handlers off the reader: one worker goroutine per
// session key with work, exiting when its queue is empty, so idle sessions
// cost nothing.
type inboundQueue struct {
	base  context.Context
	slots chan struct{} // bounds queued plus running deliveries

	mu       sync.Mutex
	sessions map[string]*sessionQ
	wg       sync.WaitGroup
}

type sessionQ struct {
	items  []func(context.Context)
	cancel context.CancelCauseFunc // of the running item
}

func newInboundQueue(base context.Context, max int) *inboundQueue {
	return &inboundQueue{base: base, slots: make(chan struct{}, max), sessions: map[string]*sessionQ{}}
}

// acquire takes a slot, blocking the reader when handlers are saturated;
// it gives up when the connection is being closed.
func (q *inboundQueue) acquire(abort <-chan struct{}) bool {
	select {
	case q.slots <- struct{}{}:
		return true
	default:
	}
	select {
	case q.slots <- struct{}{}:
		return true
	case <-abort:
		return false
	case <-q.base.Done():
		return false
	}
}

func (q *inboundQueue) enqueue(key string, fn func(context.Context)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, running := q.sessions[key]
	if !running {
		s = &sessionQ{}
		q.sessions[key] = s
	}
	s.items = append(s.items, fn)
	if !running {
		q.wg.Add(1)
		go q.run(key, s)
	}
}

func (q *inboundQueue) run(key string, s *sessionQ) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(s.items) == 0 {
			delete(q.sessions, key)
			q.mu.Unlock()
			return
		}
		fn := s.items[0]
		s.items[0] = nil
		s.items = s.items[1:]
		ctx, cancel := context.WithCancelCause(q.base)
		s.cancel = cancel
		q.mu.Unlock()

		if q.base.Err() == nil {
			// After Close the queued rest is dropped unacked; buffered
			// ones replay on the next run.
			fn(ctx)
		}
		q.mu.Lock()
		s.cancel = nil
		q.mu.Unlock()
		cancel(nil)
		<-q.slots
	}
}

// interrupt cancels the running handler of a session, if any.
func (q *inboundQueue) interrupt(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s := q.sessions[key]; s != nil && s.cancel != nil {
		s.cancel(ErrInterrupted)
	}
}

func (q *inboundQueue) goTracked(fn func(context.Context)) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		fn(q.base)
	}()
}

// wait blocks until every handler returned or ctx ends.
func (q *inboundQueue) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to wait for handlers: %w", ctx.Err())
	}
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
