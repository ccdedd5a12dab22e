package wspeer

import (
	"context"
	"time"

	"sync"

	"github.com/relaykit/relaykit/contract"
)

// ReceiveOptions shape a [Receiver]. Every hook runs on the reader
// goroutine, before the frames or the close it reports become visible to
// waits, so that a transcript written by a hook is never behind what a
// wait saw.
type ReceiveOptions[F any] struct {
	// Decode turns one frame (newline excluded; the slice is only valid
	// during the call) into the queued value. Required.
	Decode func(line []byte) F
	// MaxFrameSize caps one frame, newline excluded. Default
	// contract.MaxFrameSize.
	MaxFrameSize int
	// MaxFrames caps the queue. Default 1<<16; frames past it are counted
	// by [Receiver.Dropped], not queued.
	MaxFrames int
	// OnMessage sees every message as read, before it is split.
	OnMessage func(msg []byte, binary bool)
	// OnOversize is called with a message that carried or completed a
	// frame over MaxFrameSize. The splitter then starts afresh: the bytes
	// of the oversized frame are dropped.
	OnOversize func(msg []byte)
	// OnEnd is called once when the connection ends.
	OnEnd func(End)
}

// End is how a connection ended.
type End struct {
	// Code and Reason are the close frame's; Code is -1 when the
	// connection ended without one.
	Code   int
	Reason string
	// Err is the read error that ended it.
	Err error
	// Stopped is true when [Receiver.Stop] ended it.
	Stopped bool
}

// Receiver reads a [Conn] on its own goroutine and queues its frames.
// A queued frame is untaken until a Take takes it.
type Receiver[F any] struct {
	c      *Conn
	o      ReceiveOptions[F]
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu           sync.Mutex
	frames       []F
	taken        []bool
	dropped      int
	ended        bool
	end          End
	pendingBytes int
	pendingSince time.Time
	changed      chan struct{}
}

// Receive starts reading c. From then on only the Receiver reads c; the
// caller still writes and closes it.
func Receive[F any](c *Conn, o ReceiveOptions[F]) *Receiver[F] {
	if o.MaxFrames <= 0 {
		o.MaxFrames = 1 << 16
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Receiver[F]{c: c, o: o, ctx: ctx, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	c.mu.Lock()
	c.onPing = append([]func(){r.notify}, c.onPing...)
	c.mu.Unlock()
	go r.read()
	return r
}

func (r *Receiver[F]) notify() {
	r.mu.Lock()
	r.notifyLocked()
	r.mu.Unlock()
}

func (r *Receiver[F]) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *Receiver[F]) read() {
	defer close(r.done)
	sp := contract.LineSplitter{MaxFrameSize: r.o.MaxFrameSize}
	for {
		msg, binary, err := r.c.Read(r.ctx)
		if err != nil {
			e := End{Err: err, Stopped: r.ctx.Err() != nil}
			e.Code, e.Reason, _ = CloseOf(err)
			if r.o.OnEnd != nil {
				r.o.OnEnd(e)
			}
			r.mu.Lock()
			r.ended, r.end = true, e
			r.notifyLocked()
			r.mu.Unlock()
			return
		}
		if r.o.OnMessage != nil {
			r.o.OnMessage(msg, binary)
		}
		var got []F
		ferr := sp.Feed(msg, func(line []byte) error {
			got = append(got, r.o.Decode(line))
			return nil
		})
		if ferr != nil {
			if r.o.OnOversize != nil {
				r.o.OnOversize(msg)
			}
			sp = contract.LineSplitter{MaxFrameSize: r.o.MaxFrameSize}
		}
		r.mu.Lock()
		for _, f := range got {
			if len(r.frames) >= r.o.MaxFrames {
				r.dropped++
				continue
			}
			r.frames = append(r.frames, f)
			r.taken = append(r.taken, false)
		}
		pend := sp.Pending()
		if pend > 0 && r.pendingBytes == 0 {
			r.pendingSince = time.Now()
		}
		r.pendingBytes = pend
		r.notifyLocked()
		r.mu.Unlock()
	}
}

// Changed returns a channel closed at the next change: a frame queued, a
// ping, the end of the connection.
func (r *Receiver[F]) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Done is closed when the reader goroutine has ended.
func (r *Receiver[F]) Done() <-chan struct{} { return r.done }

// Take takes the first untaken frame match accepts. Frames it skips stay
// untaken.
func (r *Receiver[F]) Take(match func(F) bool) (F, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.frames {
		if !r.taken[i] && match(f) {
			r.taken[i] = true
			return f, true
		}
	}
	var zero F
	return zero, false
}

// TakeThrough takes the first untaken frame match accepts and every frame
// before it: a reader that consumes the stream in order.
func (r *Receiver[F]) TakeThrough(match func(F) bool) (F, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.frames {
		if !r.taken[i] && match(f) {
			for j := 0; j <= i; j++ {
				r.taken[j] = true
			}
			return f, true
		}
	}
	var zero F
	return zero, false
}

// Find returns the first untaken frame match accepts, without taking it.
func (r *Receiver[F]) Find(match func(F) bool) (F, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.frames {
		if !r.taken[i] && match(f) {
			return f, true
		}
	}
	var zero F
	return zero, false
}

// Each calls fn with every queued frame, taken or not, in arrival order,
// holding the queue's lock: fn must not call the Receiver.
func (r *Receiver[F]) Each(fn func(f F, taken bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.frames {
		fn(f, r.taken[i])
	}
}

// All returns every queued frame, taken or not.
func (r *Receiver[F]) All() []F {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]F(nil), r.frames...)
}

// Dropped returns how many frames arrived past MaxFrames.
func (r *Receiver[F]) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Ended reports whether the connection has ended, and how.
func (r *Receiver[F]) Ended() (End, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.end, r.ended
}

// Pending returns how many received bytes wait for a newline and since
// when.
func (r *Receiver[F]) Pending() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pendingBytes, r.pendingSince
}

// Pings returns how many pings the other side sent.
func (r *Receiver[F]) Pings() int { return r.c.Pings() }

// Stop ends the connection without a close handshake and waits for the
// reader goroutine.
func (r *Receiver[F]) Stop() {
	r.cancel()
	_ = r.c.CloseNow()
	<-r.done
}

// CloseNormal closes with 1000, waiting at most wait for the other side's
// close, then stops the reader.
func (r *Receiver[F]) CloseNormal(wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	go func() { <-ctx.Done(); _ = r.c.CloseNow() }()
	_ = r.c.Close(contract.CloseNormal, "")
	r.cancel()
	<-r.done
}
