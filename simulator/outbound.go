package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// OutboundRecord is one outbound frame a gateway sent and what the
// simulator answered.
type OutboundRecord struct {
	Seq       uint64 `json:"seq"`
	GatewayID string `json:"gatewayId"`
	SessionID uint64 `json:"sessionId"`
	RequestID string `json:"requestId"`
	// Platform and BotID are the frame's tags as sent, "" when untagged.
	Platform string `json:"platform,omitempty"`
	BotID    string `json:"botId,omitempty"`
	// ResolvedPlatform is where the action went: the tag, or the
	// connection's default platform (OUT-013).
	ResolvedPlatform string          `json:"resolvedPlatform,omitempty"`
	Op               string          `json:"op"`
	Action           json.RawMessage `json:"action"`
	// Result is the result object sent, or planned when still delayed.
	Result     json.RawMessage `json:"result,omitempty"`
	Answered   bool            `json:"answered"`
	ScriptID   string          `json:"scriptId,omitempty"`
	ReceivedAt time.Time       `json:"receivedAt"`
	AnsweredAt time.Time       `json:"answeredAt,omitzero"`
}

// ResultScript overrides the answer to matching outbound actions. Empty
// match fields match anything. Scripts are tried in the order they were
// added; the first that matches and has uses left wins. Gating comes first:
// an unsupported op or an unfronted platform is answered as the contract
// says, whatever the scripts.
type ResultScript struct {
	ID        string `json:"id,omitempty"`
	GatewayID string `json:"gatewayId,omitempty"`
	Platform  string `json:"platform,omitempty"`
	Op        string `json:"op,omitempty"`
	ChatID    string `json:"chatId,omitempty"`

	// Result is sent verbatim as the result object.
	Result json.RawMessage `json:"result,omitempty"`
	// Fail answers success:false with this error and code.
	Fail *ScriptFailure `json:"fail,omitempty"`
	// EgressDeclined answers the contract's egress decline (OUT-011).
	EgressDeclined bool `json:"egressDeclined,omitempty"`
	// Delay holds the answer back this long on the simulator's clock.
	Delay time.Duration `json:"-"`
	// NeverAnswer sends no result at all.
	NeverAnswer bool `json:"neverAnswer,omitempty"`
	// Times limits how many actions the script answers; 0 means every one.
	Times int `json:"times,omitempty"`
	// Used counts the actions it answered.
	Used int `json:"used"`
}

// ScriptFailure is a scripted failure.
type ScriptFailure struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

type scriptSet struct {
	mu   sync.Mutex
	list []*ResultScript
	seq  int
}

func (ss *scriptSet) reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.list = nil
}

func (ss *scriptSet) match(gw, platform, op, chat string) (ResultScript, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, sc := range ss.list {
		if (sc.GatewayID == "" || sc.GatewayID == gw) && (sc.Platform == "" || sc.Platform == platform) &&
			(sc.Op == "" || sc.Op == op) && (sc.ChatID == "" || sc.ChatID == chat) &&
			(sc.Times == 0 || sc.Used < sc.Times) {
			sc.Used++
			return *sc, true
		}
	}
	return ResultScript{}, false
}

// Script adds a result script and returns its id.
func (s *Server) Script(sc ResultScript) (string, error) {
	if sc.Result != nil {
		r, err := compactJSON(sc.Result)
		if err != nil || len(r) == 0 || r[0] != '{' {
			return "", badRequest("result", "must be a JSON object")
		}
		if err := checkFrameSize("result", r); err != nil {
			return "", err
		}
		sc.Result = r
	}
	if sc.Fail != nil && sc.Fail.Error == "" {
		return "", badRequest("fail.error", "must be a non-empty string")
	}
	if sc.Op != "" && !contract.IsKnownOp(sc.Op) {
		return "", badRequest("op", "unknown op %q", sc.Op)
	}
	if sc.Delay < 0 || sc.Times < 0 {
		return "", badRequest("delay", "delay and times must not be negative")
	}
	s.scripts.mu.Lock()
	s.scripts.seq++
	sc.ID, sc.Used = "script-"+strconv.Itoa(s.scripts.seq), 0
	s.scripts.list = append(s.scripts.list, &sc)
	s.scripts.mu.Unlock()
	s.note(JournalEntry{Kind: JournalControl, Detail: "result script " + sc.ID + " added"})
	return sc.ID, nil
}

// Scripts returns the result scripts, in match order.
func (s *Server) Scripts() []ResultScript {
	s.scripts.mu.Lock()
	defer s.scripts.mu.Unlock()
	out := []ResultScript{}
	for _, sc := range s.scripts.list {
		out = append(out, *sc)
	}
	return out
}

// ClearScripts removes every result script.
func (s *Server) ClearScripts() {
	s.scripts.reset()
	s.note(JournalEntry{Kind: JournalControl, Detail: "result scripts cleared"})
}

// history keeps the records the inspection API returns and the ids
// OUT-021 and OUT-026 need, each bounded per gateway (or instance) and in
// total, in count and bytes (Options.HistorySize, HistoryMaxBytes,
// HistoryMaxTotalBytes).
type history struct {
	mu       sync.Mutex
	seq      uint64
	outbound boundedLog[*OutboundRecord]
	intr     boundedLog[seqInterrupt]
	wakes    boundedLog[seqWake]
	drafts   boundedMap // gateway -> chat+draft id -> message id (OUT-021)
	threads  boundedMap // gateway -> thread id -> name, for threads we created (OUT-026)
}

type seqInterrupt struct {
	seq uint64
	r   InterruptRecord
}

type seqWake struct {
	seq uint64
	r   WakeRecord
}

// Fixed costs of a record beyond its strings, roughly its struct and
// slot.
const (
	outboundOverhead  = 320
	interruptOverhead = 200
	wakeOverhead      = 160
)

func (h *history) init(c *config) {
	n, per, total := c.HistorySize, c.HistoryMaxBytes, c.HistoryMaxTotalBytes
	h.outbound.init(n, per, total, func(r *OutboundRecord) int64 {
		return outboundOverhead + int64(len(r.GatewayID)+len(r.RequestID)+len(r.Platform)+len(r.BotID)+
			len(r.ResolvedPlatform)+len(r.Op)+len(r.Action)+len(r.Result)+len(r.ScriptID))
	})
	h.intr.init(n, per, total, func(x seqInterrupt) int64 {
		r := x.r
		n := interruptOverhead + int64(len(r.GatewayID)+len(r.SessionKey)+len(r.RoutedTo)+len(r.Delivery))
		if r.Reason != nil {
			n += int64(len(*r.Reason))
		}
		return n
	})
	h.wakes.init(n, per, total, func(x seqWake) int64 {
		return wakeOverhead + int64(len(x.r.Instance)+len(x.r.URL)+len(x.r.Error))
	})
	h.drafts.init(n, per, total)
	h.threads.init(n, per, total)
}

func (h *history) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outbound.reset()
	h.intr.reset()
	h.wakes.reset()
	h.drafts.reset()
	h.threads.reset()
}

// addOutbound records r, whose Result must be set already: its size is
// counted once, here.
func (h *history) addOutbound(r *OutboundRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	r.Seq = h.seq
	h.outbound.add(r.GatewayID, r)
}

func (h *history) addInterrupt(r InterruptRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.intr.add(r.GatewayID, seqInterrupt{h.seq, r})
}

func (h *history) interrupts(gw string) []InterruptRecord {
	h.mu.Lock()
	var all []seqInterrupt
	h.intr.each(gw, func(x seqInterrupt) { all = append(all, x) })
	h.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	out := make([]InterruptRecord, len(all))
	for i, x := range all {
		out[i] = x.r
	}
	return out
}

// Outbound returns a gateway's outbound actions with their results, in
// arrival order; every gateway's when gatewayID is "". Only the newest
// records are kept (Options.HistorySize, HistoryMaxBytes,
// HistoryMaxTotalBytes).
func (s *Server) Outbound(gatewayID string) []OutboundRecord {
	h := &s.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []OutboundRecord{}
	h.outbound.each(gatewayID, func(r *OutboundRecord) { out = append(out, *r) })
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

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

var errNoSession = errors.New("no open socket")

// CloseSession closes every open socket of a gateway now with code and
// reason, and returns how many it closed.
func (s *Server) CloseSession(gatewayID string, code int, reason string) (int, error) {
	if code < 1000 || code > 4999 || (code >= 1004 && code <= 1006) || code == 1015 {
		return 0, badRequest("code", "%d cannot be sent in a close frame", code)
	}
	if len(reason) > 123 {
		return 0, badRequest("reason", "at most 123 bytes")
	}
	s.mu.RLock()
	var victims []*session
	for _, sess := range s.sessions {
		if sess.gw.GatewayID == gatewayID {
			victims = append(victims, sess)
		}
	}
	s.mu.RUnlock()
	if len(victims) == 0 {
		return 0, &RequestError{Status: 404, Field: "gatewayId", Message: fmt.Sprintf("%v for gateway %q", errNoSession, gatewayID)}
	}
	for _, sess := range victims {
		s.note(JournalEntry{Kind: JournalFault, GatewayID: gatewayID, SessionID: sess.id, Code: code, Reason: reason, Detail: "session closed on request"})
		sess.closeAsync(code, reason)
	}
	return len(victims), nil
}
