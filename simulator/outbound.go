package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// answer is how an outbound will be answered.
type answer struct {
	result   []byte
	delay    time.Duration
	never    bool
	scriptID string
	why      string // for the journal when nothing is sent
}

// outbound answers one outbound frame with exactly one result (OUT-006),
// unless a script or a deviation says otherwise.
// line is the frame as read and info what DecodeLine found in it.
func (s *Server) outbound(sess *session, f contract.Outbound, line []byte, info contract.LineInfo) {
	// The record outlives line, which is a pooled read buffer: copy.
	rec := &OutboundRecord{
		GatewayID: sess.gw.GatewayID, SessionID: sess.id, RequestID: f.RequestID,
		Platform: f.Platform, BotID: f.BotID, Op: f.Action.Op, Action: bytes.Clone(info.Action), ReceivedAt: s.clk.Now(),
	}
	if f.RequestID == "" {
		s.hist.addOutbound(rec)
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: contract.TypeOutbound,
			Detail: "outbound without requestId cannot be answered"})
		return
	}
	ans := s.decide(sess, f, line, info, rec)
	rec.Result = ans.result
	s.hist.addOutbound(rec)
	s.deliverAnswer(sess, rec, ans)
}

// badOutbound answers an outbound frame DecodeLine refused (a field of the
// wrong type) with invalid_action, when its requestId is readable; info
// holds what DecodeLine could still read of it.
func (s *Server) badOutbound(sess *session, line []byte, info contract.LineInfo, decodeErr error) {
	id := info.RequestID
	rec := &OutboundRecord{GatewayID: sess.gw.GatewayID, SessionID: sess.id, RequestID: id, Platform: info.Platform,
		Action: bytes.Clone(info.Action), ReceivedAt: s.clk.Now()}
	if id == "" {
		s.hist.addOutbound(rec)
		return
	}
	// Name the offending key when the validator can; the decode error only
	// names the action as a whole.
	msg := decodeErr.Error()
	var fe *contract.FieldError
	if errors.As(decodeErr, &fe) {
		msg = fe.Field + ": " + fe.Problem
	}
	for _, v := range contract.ValidateFrame(append(line[:len(line):len(line)], '\n')) {
		if strings.HasPrefix(v.Field, "action") {
			msg = v.Field + ": " + v.Message
			break
		}
	}
	r := contract.Result{Success: false, Code: contract.CodeInvalidAction, Error: "invalid action: " + msg}
	b, _ := r.MarshalJSON()
	rec.Result = b
	s.hist.addOutbound(rec)
	s.deliverAnswer(sess, rec, answer{result: b})
}

// decide works out the answer: gating (OUT-009), validation (OUT-015),
// scripts, then the generated success.
func (s *Server) decide(sess *session, f contract.Outbound, line []byte, info contract.LineInfo, rec *OutboundRecord) answer {
	devs := s.deviations()
	fail := func(code, msg string) answer {
		b, _ := contract.Result{Success: false, Code: code, Error: msg}.MarshalJSON()
		return answer{result: b}
	}
	// Resolved under the lock rather than on a copy of the list: this runs
	// for every outbound.
	in := sess.inst
	platform, fronted := f.Platform, false
	in.mu.Lock()
	if platform == "" && len(sess.platforms) > 0 {
		platform = sess.platforms[0]
	}
	for _, p := range sess.platforms {
		fronted = fronted || p == platform
	}
	in.mu.Unlock()
	rec.ResolvedPlatform = platform
	if !fronted {
		if devs.Has(deviation.SimPlatformNotFrontedDropped) {
			return answer{never: true, why: "platform not fronted: dropped (deviation)"}
		}
		if platform == "" {
			return fail(contract.CodePlatformNotFronted, "platform not fronted: no descriptor was sent on this connection")
		}
		return fail(contract.CodePlatformNotFronted, "platform not fronted: "+platform)
	}
	op := f.Action.Op
	desc := s.cfg.presets[platform].desc
	if (!contract.IsKnownOp(op) || !desc.SupportsOp(op)) && !devs.Has(deviation.SimUnsupportedOpSuccess) {
		return fail(contract.CodeUnsupportedOp, "unsupported op: "+op)
	}
	// Most actions are well formed: vouch for them on the fast path and
	// build ValidateFrame's value tree only to word a refusal.
	if contract.IsKnownOp(op) && !info.ActionValid {
		for _, v := range contract.ValidateFrame(append(line[:len(line):len(line)], '\n')) {
			if v.Requirement == "OUT-004" || v.Requirement == "OUT-003" {
				return fail(contract.CodeInvalidAction, "invalid action: "+v.Field+": "+v.Message)
			}
		}
	}
	if devs.Has(deviation.SimNoOutboundResult) {
		return answer{never: true, why: "no result (no-outbound-result deviation)"}
	}
	if sc, ok := s.scripts.match(sess.gw.GatewayID, platform, op, f.Action.ChatID); ok {
		ans := answer{delay: sc.Delay, scriptID: sc.ID}
		switch {
		case sc.NeverAnswer:
			ans.never, ans.why = true, "never answered (script "+sc.ID+")"
		case sc.Result != nil:
			ans.result = sc.Result
		case sc.EgressDeclined:
			ans.result = fail(contract.CodeEgressDeclined, platform+" egress declined: target is not an approved destination for this connection").result
		case sc.Fail != nil:
			ans.result = fail(sc.Fail.Code, sc.Fail.Error).result
		default:
			ans.result = s.generate(sess.gw.GatewayID, platform, f.Action)
		}
		rec.ScriptID = sc.ID
		return ans
	}
	return answer{result: s.generate(sess.gw.GatewayID, platform, f.Action)}
}

// generate makes the success result of an action: fresh ids where the op
// produces something (OUT-010), the same id for a repeated draft seal
// (OUT-021), a thread id for thread_create (OUT-025), nested chat info
// (OUT-019), and a skip for a conditional rename whose condition fails
// (OUT-026).
func (s *Server) generate(gw, platform string, a contract.Action) []byte {
	r := contract.Result{Success: true}
	h := &s.hist
	switch a.Op {
	case contract.OpSend, contract.OpFollowUp, contract.OpSendMedia, contract.OpPrompt:
		r.MessageID = s.newMessageID()
	case contract.OpEdit:
		r.MessageID = a.MessageID
	case contract.OpDraft:
		key := a.ChatID + "\x00" + strconv.FormatInt(a.DraftID, 10)
		h.mu.Lock()
		id, ok := h.drafts.get(gw, key)
		if !ok {
			id = s.newMessageID()
			h.drafts.put(gw, key, id)
		}
		h.mu.Unlock()
		r.MessageID = id
	case contract.OpGetChatInfo:
		info := contract.ChatInfo{Name: a.ChatID, Type: "dm"}
		if c, ok := s.chat(gw, platform, a.ChatID); ok {
			info = contract.ChatInfo{Name: c.name, Type: c.typ}
		}
		r.ChatInfo = &info
	case contract.OpThreadCreate:
		id := "th-" + strconv.FormatUint(s.msgSeq.Add(1), 10)
		h.mu.Lock()
		h.threads.put(gw, id, a.ThreadName)
		h.mu.Unlock()
		r.ThreadID, r.MessageID = id, id
	case contract.OpThreadRename:
		h.mu.Lock()
		name, ours := h.threads.get(gw, a.MessageID)
		skip := (a.OnlyIfConnectorCreated && !ours) || (a.OnlyIfCurrentName != "" && (!ours || name != a.OnlyIfCurrentName))
		if !skip && ours {
			// Only threads we created are remembered: renaming any
			// other id must not grow the table.
			h.threads.put(gw, a.MessageID, a.ThreadName)
		}
		h.mu.Unlock()
		if skip {
			r.Extra = map[string]json.RawMessage{"skipped": json.RawMessage("true")}
		}
	}
	if s.deviations().Has(deviation.SimWrongResultShape) {
		r.MessageID = ""
	}
	b, _ := r.MarshalJSON()
	return b
}

func (s *Server) newMessageID() string {
	var b [24]byte // one allocation, for the string
	return string(strconv.AppendUint(append(b[:0], "m-"...), s.msgSeq.Add(1), 10))
}

// deliverAnswer sends the planned result now or after its delay.
func (s *Server) deliverAnswer(sess *session, rec *OutboundRecord, ans answer) {
	s.hist.mu.Lock()
	rec.Result = ans.result
	s.hist.mu.Unlock()
	if ans.never {
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: contract.TypeOutbound, RequestID: rec.RequestID, Detail: ans.why})
		return
	}
	if ans.delay > 0 {
		s.afterFunc(ans.delay, func() { s.sendAnswer(sess, rec, ans.result) })
		return
	}
	s.sendAnswer(sess, rec, ans.result) // no closure to allocate on the common path
}

// sendAnswer queues the outbound_result answering rec.
func (s *Server) sendAnswer(sess *session, rec *OutboundRecord, result []byte) {
	// Recorded before the frame is queued, so whoever reads the result
	// off the socket finds the record already answered.
	s.hist.mu.Lock()
	rec.Answered, rec.AnsweredAt = true, s.clk.Now()
	s.hist.mu.Unlock()
	bp := getBuf()
	*bp = contract.AppendOutboundResult((*bp)[:0], rec.RequestID, result)
	// Results come from the socket's own reader or a timer goroutine,
	// never under a lock: waiting for room pushes back on this peer
	// alone.
	if err := sess.write(bp, frameMeta{typ: contract.TypeOutboundResult, requestID: rec.RequestID}, enqueueWait); err != nil {
		s.hist.mu.Lock()
		rec.Answered, rec.AnsweredAt = false, time.Time{}
		s.hist.mu.Unlock()
	}
}
