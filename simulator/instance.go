package simulator

import (
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// instance is the delivery state of one gateway instance: its sockets, its
// flip, its buffer and its drain. mu orders everything that decides between
// live and buffered delivery, so a going_idle_ack can never overtake a live
// frame decided before it, and live delivery never overtakes the buffer.
type instance struct {
	id string

	mu       sync.Mutex
	flipped  bool
	policies map[string]contract.PolicyRequest
	buffer   []*entry
	bufBytes int64          // entrySize of every entry in buffer
	pending  map[string]int // buffered entries per platform
	sessions []*session     // open authenticated sockets, oldest first
	drain    *drain
	lastWake time.Time
	woke     bool
	acked    []string // recently acked buffer ids, oldest first
	ackCount int
	noopAcks int
	// replayed holds acked entries for the redeliver-acked deviation.
	replayed []*entry
}

// entry is a buffered event plus where it is in flight.
type entry struct {
	BufferedEntry
	sentOn *drain // the drain that sent it and awaits its ack; nil when unsent
}

const ackHistory = 10000

func newInstance(id string) *instance {
	return &instance{id: id, policies: map[string]contract.PolicyRequest{}, pending: map[string]int{}}
}

// liveSessionLocked returns the newest handshaked socket that answered a
// hello for platform (IN-007), or nil.
func (in *instance) liveSessionLocked(platform string) *session {
	for i := len(in.sessions) - 1; i >= 0; i-- {
		sess := in.sessions[i]
		if sess.frontsLocked(platform) {
			return sess
		}
	}
	return nil
}

// newestHandshakedLocked returns the newest socket that sent a descriptor.
func (in *instance) newestHandshakedLocked() *session {
	for i := len(in.sessions) - 1; i >= 0; i-- {
		if len(in.sessions[i].platforms) > 0 {
			return in.sessions[i]
		}
	}
	return nil
}

func (in *instance) removeSessionLocked(sess *session) bool {
	for i, x := range in.sessions {
		if x == sess {
			in.sessions = append(in.sessions[:i], in.sessions[i+1:]...)
			return true
		}
	}
	return false
}

// hasEligibleLocked reports whether an unsent entry could go to sess.
func (in *instance) hasEligibleLocked(sess *session) bool {
	for _, e := range in.buffer {
		if e.sentOn == nil && sess.frontsLocked(e.Platform) {
			return true
		}
	}
	return false
}

func (in *instance) findLocked(id string) int {
	for i, e := range in.buffer {
		if e.BufferID == id {
			return i
		}
	}
	return -1
}

func (in *instance) removeAtLocked(i int) *entry {
	e := in.buffer[i]
	if i == 0 {
		in.buffer[0] = nil
		in.buffer = in.buffer[1:]
	} else {
		in.buffer = append(in.buffer[:i], in.buffer[i+1:]...)
	}
	in.pending[e.Platform]--
	if in.pending[e.Platform] <= 0 {
		delete(in.pending, e.Platform)
	}
	in.bufBytes -= entrySize(&e.BufferedEntry)
	return e
}
