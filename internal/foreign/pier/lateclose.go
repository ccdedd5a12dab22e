package pier

import (
	"context"
	"encoding/json"
	"time"

	"github.com/coder/websocket"
)

// Late close notice (Options.LateCloseNotice).
//
// A connector learns that a socket ended from a read or a write, never at
// the instant the gateway left: until it does, an event for the instance
// still goes to the socket it believes live, the write fails, and the
// event is buffered as if it had never been written (IDLE-007 binds what
// was not written). With the option, pier makes that window deterministic:
// a socket whose gateway went away leaves a ghost on its instance, and the
// next event injected for the instance meets the ghost instead of the
// buffer. Only the next one: the failed write is how pier learns the
// socket is gone, and a new connection of the instance forgets the ghost.

// ghost is what an instance keeps of a socket that ended before pier
// noticed: the dead socket and the platforms it was delivering live.
type ghost struct {
	ws   *websocket.Conn
	live map[string]bool
}

// ghostWriteTimeout bounds the write to a dead socket. The socket is
// closed, so the write fails at once; the bound only keeps pier's lock
// from waiting on a socket that is, against expectation, stuck.
const ghostWriteTimeout = 100 * time.Millisecond

// leaveGhostLocked records c as its instance's ghost when the option is on
// and the socket ended on the gateway's side while delivering live. A
// close pier decided on (idle timeout, revocation, shutdown, a protocol
// error) leaves no ghost: pier knows that socket is gone. Call it before
// c is marked closing.
func (c *relayConn) leaveGhostLocked() {
	if !c.s.cfg.LateCloseNotice || c.inst.live != c || c.ws == nil {
		return
	}
	live := map[string]bool{}
	for p := range c.answered {
		if c.liveLocked(p) {
			live[p] = true
		}
	}
	if len(live) > 0 {
		c.inst.ghost = &ghost{ws: c.ws, live: live}
	}
}

// ghostDeliverLocked offers ev, an event for platform, to the instance's
// ghost and forgets the ghost, whatever the event: pier learns of the dead
// socket from this one write. When the ghost was live for platform and the
// buffer has room, the event is reported live, written to the dead socket,
// and, the write having failed, appended to the buffer as a fresh entry
// behind everything buffered before it: exactly where it would be had pier
// buffered it at once. It reports whether it took the event; when it did
// not, the caller buffers it (or answers 507) as usual.
func (s *Server) ghostDeliverLocked(inst *instance, platform string, body []byte, order uint64) bool {
	gh := inst.ghost
	if gh == nil {
		return false
	}
	inst.ghost = nil
	if !gh.live[platform] || !s.roomLocked(inst, body) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), ghostWriteTimeout)
	err := gh.ws.Write(ctx, websocket.MessageText, frame(map[string]any{"type": "inbound", "event": json.RawMessage(body)}))
	cancel()
	// The reader saw this socket end, so the write fails; had it not, no
	// gateway reads the socket any more. Either way the event was not
	// delivered, and it is buffered (IDLE-007).
	s.cfg.Logger.Info("pier: live write to a socket that had ended; event buffered", "instance", inst.id, "error", err)
	s.bufferLocked(inst, platform, body, order)
	return true
}
