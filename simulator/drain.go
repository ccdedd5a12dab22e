package simulator

import (
	"fmt"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// drain replays an instance's buffer to one socket, at most a window of
// unacknowledged entries at a time (IDLE-009 to IDLE-012).
type drain struct {
	sess     *session
	cond     *sync.Cond // on instance.mu; signalled by acks, appends and stops
	inflight int
	sent     int
	stopped  bool
	started  time.Time
}

// stopDrainLocked ends the running drain; its unacked entries become unsent
// again, so the next connection redelivers exactly them (IDLE-010).
func (in *instance) stopDrainLocked() {
	d := in.drain
	if d == nil {
		return
	}
	d.stopped = true
	for _, e := range in.buffer {
		if e.sentOn == d {
			e.sentOn = nil
		}
	}
	in.drain = nil
	d.cond.Broadcast()
}

// onDescriptorLocked runs after a descriptor went out on sess: a drain starts
// when the instance is flipped or holds entries sess can take.
func (s *Server) onDescriptorLocked(in *instance, sess *session) {
	if in.drain != nil {
		return
	}
	if s.deviations().Has(deviation.SimNoDrain) {
		if in.flipped {
			s.setFlipLocked(in, sess, false, "handshake (no-drain deviation)")
		}
		return
	}
	if in.flipped || in.hasEligibleLocked(sess) || (len(in.replayed) > 0 && s.deviations().Has(deviation.SimRedeliverAcked)) {
		s.startDrainLocked(in, sess)
	}
}

func (s *Server) startDrainLocked(in *instance, sess *session) {
	if !s.track() {
		return
	}
	d := &drain{sess: sess, cond: sync.NewCond(&in.mu), started: s.clk.Now()}
	in.drain = d
	s.note(JournalEntry{Kind: JournalDrain, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: in.id,
		Detail: fmt.Sprintf("drain started: %d buffered", len(in.buffer))})
	go func() {
		defer s.untrack()
		s.runDrain(in, d)
	}()
}

// runDrain replays the buffer oldest first. Writes happen outside in.mu,
// so the socket's reader can always take the lock to process acks.
func (s *Server) runDrain(in *instance, d *drain) {
	devs := s.deviations()
	window := s.cfg.DrainWindow
	gated := !devs.Has(deviation.SimReplayNotAckGated)
	var batch []*entry
	in.mu.Lock()
	if devs.Has(deviation.SimRedeliverAcked) {
		// The deviation replays what was already acked before anything
		// else, exactly the bug IDLE-010 forbids.
		batch = append(batch, in.replayed...)
	}
	for {
		for len(batch) == 0 {
			if d.stopped {
				in.mu.Unlock()
				return
			}
			room := len(in.buffer)
			if gated {
				room = window - d.inflight
			}
			for _, e := range in.buffer {
				if room <= 0 {
					break
				}
				if e.sentOn == nil && d.sess.frontsLocked(e.Platform) {
					e.sentOn = d
					e.Deliveries++
					batch = append(batch, e)
					room--
				}
			}
			if !gated {
				// The deviation forgets entries as soon as they are sent.
				for _, e := range batch {
					if i := in.findLocked(e.BufferID); i >= 0 {
						s.removeEntryLocked(in, i)
						s.store.Apply(Mutation{Kind: MutRemove, Instance: in.id, BufferID: e.BufferID})
					}
				}
			} else {
				d.inflight += len(batch)
			}
			if len(batch) > 0 {
				break
			}
			if d.inflight == 0 {
				// Every entry this socket can take was acked: the drain
				// is complete, the flip clears and live delivery resumes.
				in.drain = nil
				s.note(JournalEntry{Kind: JournalDrain, GatewayID: d.sess.gw.GatewayID, SessionID: d.sess.id, Instance: in.id,
					Detail: fmt.Sprintf("drain complete: %d sent, %d left for other platforms", d.sent, len(in.buffer))})
				if in.flipped {
					s.setFlipLocked(in, d.sess, false, "drain complete")
				}
				in.mu.Unlock()
				return
			}
			d.cond.Wait()
		}
		in.mu.Unlock()
		for _, e := range batch {
			// Entries are already durable: the drain may wait for room.
			if err := d.sess.writeDelivery(e.FrameType, e.Payload, e.BufferID, e.Platform, enqueueWait); err != nil {
				break // the socket is gone; its cleanup stops this drain
			}
			d.sent++
		}
		batch = batch[:0]
		in.mu.Lock()
	}
}

// ack releases a buffer entry (IDLE-010); anything else is a journaled
// no-op (IDLE-017, IDLE-018).
func (s *Server) ack(sess *session, bufferID string) {
	in := sess.inst
	in.mu.Lock()
	defer in.mu.Unlock()
	i := -1
	if bufferID != "" {
		i = in.findLocked(bufferID)
	}
	if i < 0 {
		in.noopAcks++
		why := "unknown or foreign bufferId"
		for _, id := range in.acked {
			if id == bufferID {
				why = "duplicate ack"
				break
			}
		}
		s.note(JournalEntry{Kind: JournalNoopAck, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: in.id, BufferID: bufferID, Detail: why})
		return
	}
	if err := s.store.Apply(Mutation{Kind: MutRemove, Instance: in.id, BufferID: bufferID}); err != nil {
		// Keeping the entry means it is redelivered: safe, if noisy.
		s.log.Error("relaysim: failed to persist ack", "instance", in.id, "err", err)
		return
	}
	e := s.removeEntryLocked(in, i)
	in.ackCount++
	in.acked = append(in.acked, bufferID)
	if len(in.acked) > ackHistory {
		in.acked = append(in.acked[:0], in.acked[len(in.acked)-ackHistory/2:]...)
	}
	if s.deviations().Has(deviation.SimRedeliverAcked) && len(in.replayed) < ackHistory {
		in.replayed = append(in.replayed, e)
	}
	if d := e.sentOn; d != nil && d == in.drain {
		d.inflight--
		d.cond.Broadcast()
	}
	s.note(JournalEntry{Kind: JournalAck, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: in.id, BufferID: bufferID})
}

// goingIdle flips the instance durably and only then acks (IDLE-003). The
// ack is written under in.mu, after every live frame decided before it.
func (s *Server) goingIdle(sess *session) {
	in := sess.inst
	in.mu.Lock()
	defer in.mu.Unlock()
	if !s.deviations().Has(deviation.SimAckWithoutFlip) {
		if in.drain != nil {
			// A drain must not clear the flip the gateway just asked for.
			in.stopDrainLocked()
		}
		if err := s.setFlipLocked(in, sess, true, "going_idle"); err != nil {
			s.log.Error("relaysim: failed to persist flip", "instance", in.id, "err", err)
			sess.closeAsync(contract.CloseInternalError, "store failure")
			return
		}
	}
	sess.send(contract.GoingIdleAck{}, enqueueForce)
}
