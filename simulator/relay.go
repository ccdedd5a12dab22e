package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

var errDuplicate = errors.New("duplicate socket")

// chunkPool holds read buffers; a socket borrows one only while a message
// is arriving, so idle sockets hold none.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// serveRelay is the /relay endpoint (TRN-012). A token problem completes
// the upgrade and then closes 4401 (AUTH-010), so the gateway can tell
// revocation from a network error.
func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	if !isWebSocketUpgrade(r) {
		s.httpError(w, r, http.StatusUpgradeRequired, "/relay expects a WebSocket upgrade")
		return
	}
	if !s.track() {
		s.httpError(w, r, http.StatusServiceUnavailable, "relaysim is shutting down")
		return
	}
	defer s.untrack()

	auth := s.authenticateUpgrade(r.Header.Get("Authorization"))
	if auth.reason != "" && s.deviations().Has(deviation.SimHTTP401Auth) {
		s.note(JournalEntry{Kind: JournalAuth, GatewayID: auth.claimed, Status: http.StatusUnauthorized, Reason: auth.reason, Detail: auth.detail + " (answered HTTP 401: deviation)"})
		writeJSON(w, http.StatusUnauthorized, contract.ErrorBody{Error: auth.reason})
		return
	}

	sess := &session{srv: s, id: s.sessSeq.Add(1), remote: r.RemoteAddr, opened: s.clk.Now()}
	if auth.gw != nil {
		sess.gw = *auth.gw
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Gateways send no Origin (TRN-015) and the bearer token, not the
		// origin, authenticates; browsers are not clients of this API.
		InsecureSkipVerify: true,
		OnPingReceived: func(context.Context, []byte) bool {
			return !s.faults.pongsStopped(sess.gw.GatewayID)
		},
	})
	if err != nil {
		s.log.Debug("relaysim: upgrade failed", "err", err)
		return
	}
	sess.conn = conn
	// Messages are streamed through a LineSplitter that caps each frame at
	// 1 MiB, which bounds memory; a cap on whole messages would wrongly
	// refuse a message carrying many valid frames (TRN-005).
	conn.SetReadLimit(-1)

	if auth.reason != "" {
		// A flood of refusals is shed with a retryable 1013 (RC-003).
		s.metrics.tokenRefused(routeUpgrade, auth.kind)
		if why := s.failedAuth(routeUpgrade, r.RemoteAddr, auth.claimed, auth.known); why != "" {
			s.metrics.refused(refUpgradeThrottled)
			s.note(JournalEntry{Kind: JournalAuth, GatewayID: auth.claimed, SessionID: sess.id, Code: contract.CloseTryAgainLater, Reason: contract.ReasonThrottled, Detail: why + "; token refused: " + auth.detail})
			sess.closeNow(contract.CloseTryAgainLater, contract.ReasonThrottled)
			return
		}
		// AUTH-011: nothing is read or written before the close.
		s.note(JournalEntry{Kind: JournalAuth, GatewayID: auth.claimed, SessionID: sess.id, Code: contract.CloseUnauthorized, Reason: auth.reason, Detail: auth.detail})
		s.log.Info("relaysim: upgrade refused", "gatewayId", auth.claimed, "reason", auth.reason, "detail", auth.detail)
		sess.closeNow(contract.CloseUnauthorized, auth.reason)
		return
	}
	sess.inst = s.instance(sess.gw.InstanceID)

	if reason := s.refusal(); reason != "" {
		s.note(JournalEntry{Kind: JournalClose, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Code: contract.CloseTryAgainLater, Reason: contract.ReasonThrottled, Detail: reason})
		sess.closeNow(contract.CloseTryAgainLater, contract.ReasonThrottled)
		return
	}
	sess.startWriter()
	sess.resetGen = s.resetGen.Load()
	if err := s.register(sess); err != nil {
		code, reason := contract.CloseConflict, contract.ReasonDuplicate
		if errors.Is(err, ErrClosed) {
			code, reason = contract.CloseGoingAway, contract.ReasonShutdown
		}
		s.note(JournalEntry{Kind: JournalClose, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: sess.inst.id, Code: code, Reason: reason, Detail: err.Error()})
		sess.closeNow(code, reason)
		sess.stopWriter()
		return
	}
	s.note(JournalEntry{Kind: JournalOpen, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: sess.inst.id, Detail: auth.detail})
	s.log.Info("relaysim: gateway connected", "gatewayId", sess.gw.GatewayID, "session", sess.id, "remote", sess.remote)
	sess.startTimers()

	readErr := sess.readLoop()

	sess.mu.Lock()
	byUs, code, reason := sess.closing, sess.closeCode, sess.closeReason
	sess.closing = true
	sess.stopTimersLocked()
	sess.mu.Unlock()
	conn.CloseNow()
	s.unregister(sess)
	s.rebuffer(sess, sess.stopWriter())
	s.endCapture(sess)
	e := JournalEntry{Kind: JournalClose, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: sess.inst.id, Code: code, Reason: reason, Detail: "closed by relaysim"}
	if !byUs {
		e.Code, e.Reason, e.Detail = int(websocket.CloseStatus(readErr)), "", "closed by gateway"
		var ce websocket.CloseError
		if errors.As(readErr, &ce) {
			e.Reason = ce.Reason
		} else {
			e.Detail = "connection lost"
		}
	}
	// Counted before the journal notes it, so a test that awaits the note
	// sees the count.
	switch {
	case byUs:
		s.metrics.closed("relaysim", e.Code)
	case e.Detail == "connection lost":
		s.metrics.closed("network", e.Code)
	default:
		s.metrics.closed("gateway", e.Code)
	}
	s.note(e)
	s.log.Info("relaysim: gateway disconnected", "gatewayId", sess.gw.GatewayID, "session", sess.id, "code", e.Code, "reason", e.Reason)
}

// refusal says why a new socket must be refused with 1013, or "".
func (s *Server) refusal() string {
	if s.refuse.Load() {
		s.metrics.refused(refRefusingFault)
		return "refusing connections (fault)"
	}
	if s.cfg.MaxSessions > 0 {
		s.mu.RLock()
		n := len(s.sessions)
		s.mu.RUnlock()
		if n >= s.cfg.MaxSessions {
			s.metrics.refused(refMaxSessions)
			return fmt.Sprintf("%d sockets open, the maximum", n)
		}
	}
	return ""
}

// register applies the duplicate-socket policy (RC-002) and adds sess to
// its instance and the server.
func (s *Server) register(sess *session) error {
	in := sess.inst
	in.mu.Lock()
	defer in.mu.Unlock()
	switch s.cfg.DuplicatePolicy {
	case DuplicateReject:
		if len(in.sessions) > 0 {
			return fmt.Errorf("%w: instance %s already has socket %d", errDuplicate, in.id, in.sessions[0].id)
		}
	case DuplicateReplace:
		for _, old := range append([]*session(nil), in.sessions...) {
			in.removeSessionLocked(old)
			if in.drain != nil && in.drain.sess == old {
				in.stopDrainLocked()
			}
			s.note(JournalEntry{Kind: JournalClose, GatewayID: old.gw.GatewayID, SessionID: old.id, Instance: in.id,
				Code: contract.CloseConflict, Reason: contract.ReasonReplaced, Detail: fmt.Sprintf("replaced by socket %d", sess.id)})
			old.closeAsync(contract.CloseConflict, contract.ReasonReplaced)
		}
	}
	s.mu.Lock()
	s.lifeMu.Lock()
	closing := s.closing
	s.lifeMu.Unlock()
	if !closing {
		s.sessions[sess.id] = sess
	}
	s.mu.Unlock()
	if closing {
		return ErrClosed
	}
	in.sessions = append(in.sessions, sess)
	return nil
}

// unregister removes a closed socket; a drain it was running stops, with
// its unacked entries left for the next connection.
func (s *Server) unregister(sess *session) {
	in := sess.inst
	in.mu.Lock()
	in.removeSessionLocked(sess)
	if in.drain != nil && in.drain.sess == sess {
		in.stopDrainLocked()
		s.note(JournalEntry{Kind: JournalDrain, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Instance: in.id,
			Detail: fmt.Sprintf("drain stopped: socket closed, %d buffered", len(in.buffer))})
		if !in.flipped {
			// Another socket of the instance (allow policy) takes over
			// the rest of the buffer.
			if next := in.newestHandshakedLocked(); next != nil && in.hasEligibleLocked(next) {
				s.startDrainLocked(in, next)
			}
		}
	}
	in.mu.Unlock()
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
}

// readLoop reads messages until the socket ends and returns the read error.
func (sess *session) readLoop() error {
	var split contract.LineSplitter
	skipping := false // oversize-no-close deviation: discarding a too-large frame
	for {
		_, rd, err := sess.conn.Reader(context.Background())
		if err != nil {
			return err
		}
		bp := chunkPool.Get().(*[]byte)
		for {
			n, rerr := rd.Read(*bp)
			if n > 0 {
				if stop := sess.feed(&split, &skipping, (*bp)[:n]); stop {
					chunkPool.Put(bp)
					return nil // closed by us; serveRelay cleans up
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				chunkPool.Put(bp)
				return rerr
			}
		}
		chunkPool.Put(bp)
	}
}

// feed splits one chunk into frames and handles them; it reports whether
// the socket was closed.
func (sess *session) feed(split *contract.LineSplitter, skipping *bool, chunk []byte) bool {
	s := sess.srv
	if *skipping {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			return false
		}
		chunk, *skipping = chunk[i+1:], false
	}
	stop := false
	err := split.Feed(chunk, func(line []byte) error {
		// A peer that sends faster than it reads waits here, outside every
		// lock, so what its frames ask us to answer stays within the write
		// queue's caps.
		sess.waitRoom(0, 0)
		if sess.handleLine(line) {
			stop = true
			return errStop
		}
		return nil
	})
	if stop {
		return true
	}
	if errors.Is(err, contract.ErrFrameTooLarge) {
		s.note(JournalEntry{Kind: JournalFrameIn, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Detail: err.Error()})
		if s.deviations().Has(deviation.SimOversizeNoClose) {
			// Skip the rest of the frame when it is still arriving; a
			// complete oversized line takes the rest of its chunk with it.
			*split = contract.LineSplitter{}
			var tooLarge *contract.FrameTooLargeError
			*skipping = errors.As(err, &tooLarge) && tooLarge.Unterminated
			return false
		}
		sess.closeNow(contract.CloseTooBig, contract.ReasonFrameTooLarge)
		return true
	}
	return false
}

var errStop = errors.New("stop")

// handleLine decodes one frame and acts on it; it reports whether the
// socket was closed.
func (sess *session) handleLine(line []byte) bool {
	s := sess.srv
	sess.framesIn.Add(1)
	s.captureFrame(sess, line)
	// The one pass over the line: everything below reads what it found.
	f, info, err := contract.DecodeLine(line)
	if info.InvalidUTF8 {
		f, err = nil, contract.ErrMalformedFrame // TRN-016
	}
	if err != nil {
		e := JournalEntry{Kind: JournalFrameIn, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Frame: s.jr.frameText(line), Size: len(line), Detail: err.Error()}
		reason := ""
		switch {
		case errors.Is(err, contract.ErrMalformedFrame):
			reason = contract.ReasonMalformedFrame
		case errors.Is(err, contract.ErrNotObject):
			reason = contract.ReasonNotObject
		}
		if reason == "" {
			// A known frame type with a mistyped field, or no type at
			// all: answer what can be answered, ignore the rest.
			typ := info.Type
			s.metrics.frameIn(typ)
			e.FrameType = typ
			s.note(e)
			if typ == contract.TypeOutbound {
				s.badOutbound(sess, line, info, err)
			} else {
				s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: typ, Detail: err.Error()})
			}
			return false
		}
		s.note(e)
		s.metrics.malformedIn()
		if s.deviations().Has(deviation.SimMalformedNoClose) {
			return false
		}
		sess.closeNow(contract.CloseInvalidPayload, reason)
		return true
	}
	typ := f.FrameType()
	s.metrics.frameIn(typ)
	s.note(JournalEntry{Kind: JournalFrameIn, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: typ, Frame: s.jr.frameText(line), Size: len(line)})
	if s.faults.active() {
		act := s.faults.match(dirIn, sess.gw.GatewayID, typ)
		if act.drop {
			s.note(JournalEntry{Kind: JournalFault, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: typ, Detail: "inbound frame dropped"})
			return false
		}
		if act.delay > 0 {
			// line is a pooled read buffer, and info.Action points into it.
			cp := append([]byte(nil), line...)
			info.Action = bytes.Clone(info.Action)
			s.note(JournalEntry{Kind: JournalFault, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: typ, Detail: "inbound frame delayed " + act.delay.String()})
			s.afterFunc(act.delay, func() {
				if !sess.isClosing() {
					sess.dispatch(f, cp, info)
				}
			})
			return false
		}
	}
	return sess.dispatch(f, line, info)
}

// dispatch acts on a frame DecodeLine decoded from line; it reports
// whether the socket was closed.
func (sess *session) dispatch(f contract.Frame, line []byte, info contract.LineInfo) bool {
	s := sess.srv
	switch f := f.(type) {
	case contract.Hello:
		sess.hello(f)
	case contract.Outbound:
		s.outbound(sess, f, line, info)
	case contract.Interrupt:
		s.interruptFromGateway(sess, f)
	case contract.GoingIdle:
		s.goingIdle(sess)
	case contract.InboundAck:
		s.ack(sess, f.BufferID)
	case contract.UnknownFrame:
		if s.deviations().Has(deviation.SimDropUnknownFramesClose) {
			sess.closeNow(contract.CloseUnsupportedData, "unknown frame type")
			return true
		}
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: f.Type, Detail: "unknown frame type (TRN-004)"})
	default:
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: f.FrameType(),
			Detail: "frame type travels only from connector to gateway"})
	}
	return false
}

// hello answers one descriptor per hello for a fronted platform (HS-004,
// HS-013); a hello for another platform is journaled and unanswered
// (HS-014, HS-015).
func (sess *session) hello(h contract.Hello) {
	s := sess.srv
	in := sess.inst
	gw, ok := s.gatewayRecord(sess.gw.GatewayID)
	pre := s.cfg.presets[h.Platform]
	fronted := ok && !gw.Revoked && h.Platform != "" && gw.fronts(h.Platform) && pre != nil

	sess.mu.Lock()
	sess.sawHello = true
	if !fronted {
		if !sess.sawFronted && sess.graceTimer == nil && !sess.closing {
			sess.graceTimer = s.afterFunc(s.cfg.HelloGrace, sess.helloDeadline)
		}
		sess.mu.Unlock()
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: contract.TypeHello,
			Detail: fmt.Sprintf("hello for platform %q, which this gateway does not front", h.Platform)})
		return
	}
	sess.sawFronted = true
	if sess.helloTimer != nil {
		sess.helloTimer.Stop()
	}
	if sess.graceTimer != nil {
		sess.graceTimer.Stop()
	}
	sess.mu.Unlock()

	in.mu.Lock()
	defer in.mu.Unlock()
	if len(sess.platforms) > 0 && s.deviations().Has(deviation.SimNoDescriptorPerHello) {
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: contract.TypeHello,
			Detail: "hello left unanswered (no-descriptor-per-hello deviation)"})
		return
	}
	if len(sess.platforms) == 0 {
		sess.handshakedAt = s.clk.Now()
	}
	if !sess.frontsLocked(h.Platform) {
		sess.platforms = append(sess.platforms, h.Platform)
	}
	if err := sess.sendBytes(pre.frame, frameMeta{typ: contract.TypeDescriptor}, enqueueForce); err != nil {
		return
	}
	s.onDescriptorLocked(in, sess)
}
