package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// removeEntryLocked removes the entry at i from memory; in.mu must be held.
func (s *Server) removeEntryLocked(in *instance, i int) *entry {
	e := in.removeAtLocked(i)
	s.buffered.Add(-entrySize(&e.BufferedEntry))
	return e
}

// clearBufferLocked forgets every entry in memory; in.mu must be held.
func (s *Server) clearBufferLocked(in *instance) {
	s.buffered.Add(-in.bufBytes)
	in.buffer, in.bufBytes = nil, 0
	in.pending = map[string]int{}
}

// deliverLocked hands one event or forward to the instance: live to the
// newest socket fronting its platform, or into the buffer when the
// instance is flipped, draining, has older entries for that platform, or
// has no such socket (IDLE-007). A socket whose write queue is full never
// makes it wait: with mayWait it returns that socket, for the caller to
// wait for room outside the lock and try again; otherwise the event is
// buffered, so an event answered "live" is always on a socket's queue.
// in.mu must be held.
func (s *Server) deliverLocked(in *instance, gw *GatewayRecord, frameType, platform string, payload []byte, mayWait bool) (Delivery, *session, int64, error) {
	devs := s.deviations()
	noDrain := devs.Has(deviation.SimNoDrain)
	why := ""
	if !in.flipped && (noDrain || (in.drain == nil && in.pending[platform] == 0)) {
		if sess := in.liveSessionLocked(platform); sess != nil {
			err := sess.writeDelivery(frameType, payload, "", platform, enqueueTry)
			if err == nil {
				return Delivery{Mode: DeliveryLive, SessionID: sess.id}, nil, 0, nil
			}
			var full *queueFullError
			if errors.As(err, &full) && mayWait {
				return Delivery{}, sess, full.need, nil
			}
			// Full, or the socket died under us: buffering keeps the
			// event.
			why = fmt.Sprintf("socket %d: %v", sess.id, err)
			if errors.Is(err, errQueueFull) {
				s.metrics.queueFull(true)
			}
		}
	}
	d, err := s.bufferLocked(in, gw, frameType, platform, payload)
	if err == nil && why != "" {
		d.Reason = why
	}
	return d, nil, 0, err
}

// deliver runs deliverLocked under the instance's lock, after check (which
// may refuse or filter the delivery, and is run again after a wait). When
// the live socket's queue is full it waits for room, holding no lock, for
// as long as the socket's writer keeps freeing some within
// Options.QueueWait, and decides again; once a wait runs out the event goes
// to the buffer.
func (s *Server) deliver(in *instance, gw *GatewayRecord, frameType, platform string, payload []byte, check func() (Delivery, bool)) (Delivery, error) {
	mayWait := s.cfg.QueueWait > 0
	for {
		in.mu.Lock()
		if check != nil {
			if d, stop := check(); stop {
				in.mu.Unlock()
				return d, nil
			}
		}
		d, full, need, err := s.deliverLocked(in, gw, frameType, platform, payload, mayWait)
		in.mu.Unlock()
		if full == nil {
			return d, err
		}
		mayWait = full.waitRoom(need, s.cfg.QueueWait)
	}
}

// entrySize is what a buffered entry holds in memory, roughly: its payload,
// its id and the bookkeeping around them.
func entrySize(e *BufferedEntry) int64 {
	return int64(len(e.Payload)+len(e.BufferID)+len(e.Platform)) + entryOverhead
}

const entryOverhead = 160

// bufferFullLocked says which cap refuses an entry of size bytes, or "".
func (s *Server) bufferFullLocked(in *instance, size int64) string {
	c := s.cfg
	switch {
	case len(in.buffer) >= c.BufferMaxEntries:
		return fmt.Sprintf("buffer of instance %s is full: %d entries, the cap (BufferMaxEntries, --buffer-max-entries)", in.id, len(in.buffer))
	case in.bufBytes+size > c.BufferMaxBytes:
		return fmt.Sprintf("buffer of instance %s is full: %d bytes held, %d more would pass the cap of %d (BufferMaxBytes, --buffer-max-bytes)", in.id, in.bufBytes, size, c.BufferMaxBytes)
	case s.buffered.Load()+size > c.BufferMaxTotalBytes:
		return fmt.Sprintf("buffers are full: %d bytes held across instances, %d more would pass the cap of %d (BufferMaxTotalBytes, --buffer-max-total-bytes)", s.buffered.Load(), size, c.BufferMaxTotalBytes)
	}
	return ""
}

// newEntry makes a buffer entry with a fresh id.
func (s *Server) newEntry(frameType, platform string, payload []byte) *entry {
	return &entry{BufferedEntry: BufferedEntry{
		BufferID:   fmt.Sprintf("buf-%s-%d", s.epoch, s.bufSeq.Add(1)),
		FrameType:  frameType,
		Platform:   platform,
		Payload:    payload,
		BufferedAt: s.clk.Now(),
	}}
}

// addEntryLocked records e in memory after the store took it.
func (s *Server) addEntryLocked(in *instance, e *entry, front bool) {
	if front {
		in.buffer = append(in.buffer, nil)
		copy(in.buffer[1:], in.buffer)
		in.buffer[0] = e
	} else {
		in.buffer = append(in.buffer, e)
	}
	in.pending[e.Platform]++
	size := entrySize(&e.BufferedEntry)
	in.bufBytes += size
	s.buffered.Add(size)
}

// bufferLocked appends to the durable buffer and then lets the drain or the
// wake logic react. A full buffer refuses the event with 507, naming the
// cap, and keeps what it holds.
func (s *Server) bufferLocked(in *instance, gw *GatewayRecord, frameType, platform string, payload []byte) (Delivery, error) {
	e := s.newEntry(frameType, platform, payload)
	if why := s.bufferFullLocked(in, entrySize(&e.BufferedEntry)); why != "" {
		s.bufRefused.Add(1)
		s.note(JournalEntry{Kind: JournalBuffer, GatewayID: gw.GatewayID, Instance: in.id, FrameType: frameType, Size: len(payload), Detail: "refused: " + why})
		return Delivery{}, &RequestError{Status: http.StatusInsufficientStorage, Message: why}
	}
	if err := s.store.Apply(Mutation{Kind: MutAppend, Instance: in.id, Entry: &e.BufferedEntry}); err != nil {
		return Delivery{}, fmt.Errorf("failed to buffer event: %w", err)
	}
	s.addEntryLocked(in, e, false)
	s.note(JournalEntry{Kind: JournalBuffer, GatewayID: gw.GatewayID, Instance: in.id, FrameType: frameType, BufferID: e.BufferID, Size: len(payload)})
	s.afterBufferedLocked(in, platform)
	if in.flipped && gw.WakeURL != "" {
		s.maybeWakeLocked(in, gw)
	}
	return Delivery{Mode: DeliveryBuffered, BufferID: e.BufferID}, nil
}

// afterBufferedLocked lets a running drain see new entries, or starts one
// when a socket fronting platform is live.
func (s *Server) afterBufferedLocked(in *instance, platform string) {
	switch {
	case in.drain != nil:
		in.drain.cond.Broadcast()
	case !in.flipped:
		// A socket fronting the platform may exist while older entries
		// wait (they arrived before its hello, or its queue was full);
		// replay them now.
		if sess := in.liveSessionLocked(platform); sess != nil && !s.deviations().Has(deviation.SimNoDrain) {
			s.startDrainLocked(in, sess)
		}
	}
}

// rebuffer moves the live deliveries a closed socket never wrote into its
// instance's buffer, ahead of everything buffered since (they are older),
// so an event answered "live" is never lost: it is replayed with a bufferId
// on the next connection. The buffer caps do not refuse them: they were
// accepted already, and the write queue's cap bounds how many there are.
func (s *Server) rebuffer(sess *session, frames []outFrame) {
	if len(frames) == 0 {
		return
	}
	defer func() {
		for _, f := range frames {
			putBuf(f.buf)
		}
	}()
	in := sess.inst
	in.mu.Lock()
	defer in.mu.Unlock()
	if sess.resetGen != s.resetGen.Load() {
		return // a Reset dropped everything since this socket opened
	}
	entries := make([]*entry, len(frames))
	for i, f := range frames {
		raw, _ := contract.DeliveryPayload(*f.buf)
		payload := bytes.Clone(raw)
		entries[i] = s.newEntry(f.meta.typ, f.meta.platform, payload)
	}
	// Newest first, each to the front, so the store ends with them in
	// their original order ahead of the rest.
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if err := s.store.Apply(Mutation{Kind: MutAppend, Front: true, Instance: in.id, Entry: &e.BufferedEntry}); err != nil {
			s.log.Error("relaysim: failed to re-buffer a live event the socket never wrote", "instance", in.id, "err", err)
			continue
		}
		s.addEntryLocked(in, e, true)
		s.note(JournalEntry{Kind: JournalBuffer, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: in.id, FrameType: e.FrameType,
			BufferID: e.BufferID, Size: len(e.Payload), Detail: "re-buffered: queued live, never written before the socket closed"})
	}
	s.rebuffered.Add(uint64(len(entries)))
	seen := map[string]bool{}
	for _, e := range entries {
		if !seen[e.Platform] {
			seen[e.Platform] = true
			s.afterBufferedLocked(in, e.Platform)
		}
	}
}

func (s *Server) setFlipLocked(in *instance, sess *session, flipped bool, why string) error {
	if err := s.store.Apply(Mutation{Kind: MutFlip, Instance: in.id, Flipped: flipped}); err != nil {
		return err
	}
	in.flipped = flipped
	e := JournalEntry{Kind: JournalFlip, Instance: in.id, Detail: fmt.Sprintf("flipped=%v: %s", flipped, why)}
	if sess != nil {
		e.GatewayID, e.SessionID = sess.gw.GatewayID, sess.id
	}
	s.note(e)
	return nil
}

// Buffer returns the entries waiting in an instance's buffer, oldest first.
func (s *Server) Buffer(instanceID string) []BufferedEntry {
	s.mu.RLock()
	in := s.instances[instanceID]
	s.mu.RUnlock()
	out := []BufferedEntry{}
	if in == nil {
		return out
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.buffer {
		out = append(out, e.BufferedEntry)
	}
	return out
}

// Flipped reports whether an instance is flipped to buffered-only delivery.
func (s *Server) Flipped(instanceID string) bool {
	s.mu.RLock()
	in := s.instances[instanceID]
	s.mu.RUnlock()
	if in == nil {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.flipped
}

// AckStats counts an instance's acks.
type AckStats struct {
	// Acked lists recently acked buffer ids, oldest first.
	Acked []string `json:"acked"`
	// Count is how many acks released an entry.
	Count int `json:"count"`
	// Noop is how many acks were duplicates, unknown or foreign.
	Noop int `json:"noop"`
}

// Acks returns an instance's ack statistics.
func (s *Server) Acks(instanceID string) AckStats {
	s.mu.RLock()
	in := s.instances[instanceID]
	s.mu.RUnlock()
	if in == nil {
		return AckStats{Acked: []string{}}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return AckStats{Acked: append([]string{}, in.acked...), Count: in.ackCount, Noop: in.noopAcks}
}

// Draining reports whether a drain is running for an instance.
func (s *Server) Draining(instanceID string) bool {
	s.mu.RLock()
	in := s.instances[instanceID]
	s.mu.RUnlock()
	if in == nil {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.drain != nil
}
