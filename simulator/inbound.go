package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// DeliveryMode says what happened to an injected event.
type DeliveryMode string

// Delivery modes.
const (
	// DeliveryLive: queued on a live socket of the gateway, behind nothing
	// but other frames of that socket. The socket's writer hands it to the
	// connection in order; if the socket closes before that, the event is
	// moved to the instance's buffer (ahead of anything buffered since) and
	// replayed with a bufferId on the next connection. Like every frame
	// without a bufferId, an event the connection took but the peer never
	// read is not redelivered.
	DeliveryLive DeliveryMode = "live"
	// DeliveryBuffered: appended to the instance's durable buffer; it is
	// replayed with a bufferId on the next handshake.
	DeliveryBuffered DeliveryMode = "buffered"
	// DeliveryFiltered: held back by the instance's relevance policy.
	DeliveryFiltered DeliveryMode = "filtered"
	// DeliveryDropped: an interrupt with no live socket to take it;
	// interrupts are never buffered.
	DeliveryDropped DeliveryMode = "dropped"
)

// Delivery reports what became of an injected event, interrupt or forward.
type Delivery struct {
	Mode      DeliveryMode `json:"delivery"`
	BufferID  string       `json:"bufferId,omitempty"`
	SessionID uint64       `json:"sessionId,omitempty"`
	// Reason explains a filtered or dropped delivery, and why an event
	// that could have gone live was buffered (its socket's write queue was
	// full, or the socket was closing).
	Reason string `json:"reason,omitempty"`
	// MessageID and ChatID are the event.message_id and
	// event.source.chat_id the gateway sees for an injected event (the
	// testee contract's correlation fields; see correlate.go).
	MessageID string `json:"messageId,omitempty"`
	ChatID    string `json:"chatId,omitempty"`
}

// InjectRequest is an event to deliver to a gateway as if a user had sent
// it on a chat platform.
type InjectRequest struct {
	GatewayID string `json:"gatewayId"`
	// Event is a MessageEvent object. Its source.platform picks the
	// identity, and so the socket, it is delivered on.
	Event json.RawMessage `json:"event"`
	// Addressed says the message addresses the bot (a mention or reply),
	// which a requireAddress policy needs.
	Addressed bool `json:"addressed,omitempty"`
	// Unchecked skips validating the event against IN-002, to send a
	// gateway deliberately broken input.
	Unchecked bool `json:"unchecked,omitempty"`
}

// RequestError is a refused control request: the HTTP status the control
// API answers with and the field at fault.
type RequestError struct {
	Status  int
	Field   string
	Message string
}

// Error returns "<field>: <message>", or the message alone.
func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

func badRequest(field, format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

func unknownGateway(id string) error {
	return &RequestError{Status: http.StatusNotFound, Field: "gatewayId", Message: fmt.Sprintf("no enrolled gateway %q", id)}
}

// sessionOwner is where a conversation lives, learned from delivered
// sources, so interrupts can be routed (IN-011, SKEY-003).
type sessionOwner struct {
	gatewayID string
	tenant    string
	instance  string
	platform  string
	chatID    string
}

// chatInfo is what get_chat_info reports for a chat seen in an event.
type chatInfo struct {
	name string
	typ  string
}

const maxLearned = 100000

// stampRoom is the room an event's buffer leaves for the message_id
// stampMessageID may add: `,"message_id":"m-` and twenty digits.
const stampRoom = 40

// Inject delivers an event to a gateway; see InjectEvent.
func (s *Server) Inject(gatewayID string, event json.RawMessage) (Delivery, error) {
	return s.InjectEvent(InjectRequest{GatewayID: gatewayID, Event: event})
}

// InjectEvent delivers an event to a gateway: live on its newest socket
// fronting the event's platform, or into its instance's buffer when it is
// flipped, draining or away, unless its relevance policy filters it. The
// event must satisfy IN-002 unless Unchecked is set, and its
// source.platform must be one the gateway fronts; a *RequestError names
// the field otherwise.
func (s *Server) InjectEvent(req InjectRequest) (Delivery, error) {
	if !s.track() {
		return Delivery{}, ErrClosed
	}
	defer s.untrack()
	gw, ok := s.gatewayRecord(req.GatewayID)
	if !ok || gw.Revoked {
		return Delivery{}, unknownGateway(req.GatewayID)
	}
	// Room for the message_id a checked event may be stamped with.
	scan, ok := contract.ScanEvent(make([]byte, 0, len(req.Event)+stampRoom), req.Event)
	ev, src, rawID, hasID := scan.Event, scan.Source, scan.MessageID, scan.MessageID != nil
	if !ok {
		var err error
		if ev, src, err = slowEvent(req.Event, req.Unchecked); err != nil {
			return Delivery{}, err
		}
		rawID, hasID = contract.RawField(ev, "message_id")
	}
	ev, msgID := s.stampMessageID(ev, rawID, hasID, src, req.Unchecked)
	if err := checkFrameSize("event", ev); err != nil {
		return Delivery{}, err
	}
	if !gw.fronts(src.Platform) {
		return Delivery{}, badRequest("event.source.platform", "platform %q is not fronted by gateway %q (it fronts %s)", src.Platform, gw.GatewayID, strings.Join(gw.Platforms, ", "))
	}
	s.learn(&gw, src)
	in := s.instance(gw.InstanceID)
	d, err := s.deliver(in, &gw, contract.TypeInbound, src.Platform, ev, func() (Delivery, bool) {
		if s.deviations().Has(deviation.SimPolicyIgnored) {
			return Delivery{}, false
		}
		if why := policyBlocks(in.policies[src.Platform], src, req.Addressed); why != "" {
			s.note(JournalEntry{Kind: JournalFiltered, GatewayID: gw.GatewayID, Instance: in.id, FrameType: contract.TypeInbound, Detail: why})
			return Delivery{Mode: DeliveryFiltered, Reason: why}, true
		}
		return Delivery{}, false
	})
	if err == nil && d.Mode != DeliveryFiltered {
		d.MessageID, d.ChatID = msgID, src.ChatID
	}
	return d, err
}

// policyBlocks applies the relevance gate (HTTP-016) and says why an event
// is held back, or "". An undeclared policy is the zero value, the
// all-default policy (HTTP-015).
func policyBlocks(pol contract.PolicyRequest, src contract.SessionSource, addressed bool) string {
	if src.ChatType == "dm" {
		return ""
	}
	if src.IsBot && !pol.AllowOtherBots {
		return "event from a bot and the policy has allowOtherBots false"
	}
	if pol.RequireAddress && !addressed {
		for _, scope := range pol.FreeResponseScopes {
			if scope != "" && (scope == src.ChatID || scope == src.ScopeID) {
				return ""
			}
		}
		return "event does not address the bot, the policy has requireAddress true and neither chat_id nor scope_id is a free-response scope"
	}
	return ""
}

// validateDelivery checks a payload as the frame it will travel in and
// reports the first violation of one of reqs, naming the field.
func validateDelivery(frameType string, payload []byte, reqs ...string) error {
	frame := appendDelivery(nil, frameType, payload, "")
	var msgs []string
	field := ""
	for _, v := range contract.ValidateFrame(frame) {
		for _, r := range reqs {
			if v.Requirement == r {
				if field == "" {
					field = v.Field
				}
				msgs = append(msgs, v.Error())
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &RequestError{Status: http.StatusBadRequest, Field: field, Message: strings.Join(msgs, "; ")}
}

// frameOverhead bounds what a delivery frame adds around its payload: the
// envelope and the longest bufferId.
const frameOverhead = 128

// checkFrameSize refuses a payload whose frame could exceed the contract's
// 1 MiB (TRN-018): no frame the simulator writes is larger.
func checkFrameSize(field string, payload []byte) error {
	if len(payload)+frameOverhead > contract.MaxFrameSize {
		return badRequest(field, "%d bytes: the frame would exceed the %d-byte cap (TRN-018)", len(payload), contract.MaxFrameSize)
	}
	return nil
}

func compactJSON(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(raw))
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// lenientPlatform reads obj[key].platform, or obj.platform when key is "".
func lenientPlatform(raw []byte, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	if key != "" {
		if json.Unmarshal(m[key], &m) != nil {
			return ""
		}
	}
	var p string
	json.Unmarshal(m["platform"], &p)
	return p
}

// learn remembers which instance owns a conversation and what its chat is
// called.
func (s *Server) learn(gw *GatewayRecord, src contract.SessionSource) {
	s.learnMu.Lock()
	if last, ok := s.lastLearned[gw.GatewayID]; ok && last == src {
		// The same conversation as the gateway's previous event, the
		// common case: nothing new to learn.
		s.learnMu.Unlock()
		return
	}
	s.learnMu.Unlock()
	key := contract.SessionKey(src, contract.DefaultSessionKeyOptions())
	name := src.ChatName
	if name == "" {
		name = src.ChatID
	}
	ck := chatKey(gw.GatewayID, src.Platform, src.ChatID)
	// Keys and values, roughly: a source's strings are held twice.
	size := int64(len(key)+len(ck)+len(name)+len(src.ChatType)+2*learnedSourceBytes(src)) + 3*mapEntryOverhead
	s.learnMu.Lock()
	defer s.learnMu.Unlock()
	if len(s.owners) >= maxLearned || len(s.chats) >= maxLearned || len(s.lastLearned) >= maxLearned ||
		s.learnedBytes+size > maxLearnedBytes {
		// Forgetting everything at once is crude but bounded and cheap;
		// a forgotten conversation only loses interrupt routing and chat
		// names until its next event.
		s.learnedDropped += uint64(len(s.owners) + len(s.chats) + len(s.lastLearned))
		clear(s.owners)
		clear(s.chats)
		clear(s.lastLearned)
		s.learnedBytes = 0
	}
	s.owners[key] = sessionOwner{gatewayID: gw.GatewayID, tenant: gw.Tenant, instance: gw.InstanceID, platform: src.Platform, chatID: src.ChatID}
	s.chats[ck] = chatInfo{name: name, typ: src.ChatType}
	s.lastLearned[gw.GatewayID] = src
	s.learnedBytes += size
}

// maxLearnedBytes bounds the bytes of learned conversations and chats.
const maxLearnedBytes = 16 << 20

func learnedSourceBytes(src contract.SessionSource) int {
	n := 0
	for _, f := range []string{src.Platform, src.ChatID, src.ChatType, src.ChatName, src.UserID, src.UserDisplayName,
		src.UserName, src.UserHandle, src.ThreadID, src.ChatTopic, src.UserIDAlt, src.ChatIDAlt, src.ScopeID,
		src.ParentChatID, src.MessageID, src.Profile, src.AutoThreadInitialName, src.ProspectiveThreadID} {
		n += len(f)
	}
	return n + 200 // the struct itself
}

func chatKey(gw, platform, chat string) string { return gw + "\x00" + platform + "\x00" + chat }

func (s *Server) owner(key string) (sessionOwner, bool) {
	s.learnMu.Lock()
	defer s.learnMu.Unlock()
	o, ok := s.owners[key]
	return o, ok
}

func (s *Server) chat(gw, platform, chat string) (chatInfo, bool) {
	s.learnMu.Lock()
	defer s.learnMu.Unlock()
	c, ok := s.chats[chatKey(gw, platform, chat)]
	return c, ok
}

// Interrupt pushes interrupt_inbound{session_key, chat_id} to a gateway's
// live socket, as the connector does when a user interrupts a turn. An
// empty chatID is filled in from the conversation the key names, when an
// event of it was delivered. Interrupts are never buffered: with no live
// socket, or while the instance is flipped or draining, the interrupt is
// dropped.
func (s *Server) Interrupt(gatewayID, sessionKey, chatID string) (Delivery, error) {
	if !s.track() {
		return Delivery{}, ErrClosed
	}
	defer s.untrack()
	gw, ok := s.gatewayRecord(gatewayID)
	if !ok || gw.Revoked {
		return Delivery{}, unknownGateway(gatewayID)
	}
	if sessionKey == "" {
		return Delivery{}, badRequest("sessionKey", "must be a non-empty string")
	}
	platform := ""
	if o, ok := s.owner(sessionKey); ok && o.instance == gw.InstanceID {
		platform = o.platform
		if chatID == "" {
			chatID = o.chatID
		}
	}
	return s.pushInterrupt(s.instance(gw.InstanceID), platform, sessionKey, chatID), nil
}

func (s *Server) pushInterrupt(in *instance, platform, sessionKey, chatID string) Delivery {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.flipped || in.drain != nil {
		return Delivery{Mode: DeliveryDropped, Reason: "instance is flipped or draining; interrupts are not buffered"}
	}
	var sess *session
	if platform != "" {
		sess = in.liveSessionLocked(platform)
	}
	if sess == nil {
		sess = in.newestHandshakedLocked()
	}
	if sess == nil {
		return Delivery{Mode: DeliveryDropped, Reason: "no live socket"}
	}
	// Never wait on the socket here: the caller may be another gateway's
	// reader, or a control request.
	if err := sess.send(contract.InterruptInbound{SessionKey: sessionKey, ChatID: chatID}, enqueueTry); err != nil {
		if errors.Is(err, errQueueFull) {
			s.metrics.queueFull(false)
		}
		return Delivery{Mode: DeliveryDropped, Reason: "not queued: " + err.Error() + "; interrupts are not buffered"}
	}
	return Delivery{Mode: DeliveryLive, SessionID: sess.id}
}

// InterruptRecord is an interrupt frame a gateway sent.
type InterruptRecord struct {
	GatewayID  string    `json:"gatewayId"`
	SessionID  uint64    `json:"sessionId"`
	SessionKey string    `json:"sessionKey"`
	Reason     *string   `json:"reason"`
	At         time.Time `json:"at"`
	// RoutedTo is the gateway that owns the session key, "" when unknown.
	RoutedTo string       `json:"routedTo,omitempty"`
	Delivery DeliveryMode `json:"delivery,omitempty"`
}

// interruptFromGateway routes a gateway's interrupt to the instance that
// owns the session key, within the same tenant, and never answers it
// (IN-011).
func (s *Server) interruptFromGateway(sess *session, f contract.Interrupt) {
	rec := InterruptRecord{GatewayID: sess.gw.GatewayID, SessionID: sess.id, SessionKey: f.SessionKey, Reason: f.Reason, At: s.clk.Now()}
	if o, ok := s.owner(f.SessionKey); ok && o.tenant == sess.gw.Tenant {
		rec.RoutedTo = o.gatewayID
		d := s.pushInterrupt(s.instance(o.instance), o.platform, f.SessionKey, o.chatID)
		rec.Delivery = d.Mode
	} else {
		s.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: contract.TypeInterrupt,
			Detail: "no delivered conversation has this session key"})
	}
	s.hist.addInterrupt(rec)
}

// Interrupts returns the interrupt frames a gateway sent, oldest first; all
// gateways' when gatewayID is "".
func (s *Server) Interrupts(gatewayID string) []InterruptRecord { return s.hist.interrupts(gatewayID) }

// Passthrough delivers a raw platform request to a gateway as
// passthrough_forward, live or buffered like an event (policy does not
// apply to forwards). fw.Platform must be fronted by the gateway.
func (s *Server) Passthrough(gatewayID string, fw contract.Forward) (Delivery, error) {
	frame, err := contract.EncodeFrame(contract.PassthroughForward{Forward: fw})
	if err != nil {
		return Delivery{}, badRequest("forward", "%v", err)
	}
	raw, _ := contract.DeliveryPayload(frame)
	return s.passthroughRaw(gatewayID, raw)
}

func (s *Server) passthroughRaw(gatewayID string, raw json.RawMessage) (Delivery, error) {
	if !s.track() {
		return Delivery{}, ErrClosed
	}
	defer s.untrack()
	gw, ok := s.gatewayRecord(gatewayID)
	if !ok || gw.Revoked {
		return Delivery{}, unknownGateway(gatewayID)
	}
	fw, err := compactJSON(raw)
	if err != nil || len(fw) == 0 || fw[0] != '{' {
		return Delivery{}, badRequest("forward", "must be a JSON object")
	}
	if err := validateDelivery(contract.TypePassthroughForward, fw, "IN-006"); err != nil {
		return Delivery{}, err
	}
	if err := checkFrameSize("forward", fw); err != nil {
		return Delivery{}, err
	}
	platform := lenientPlatform(fw, "")
	if !gw.fronts(platform) {
		return Delivery{}, badRequest("forward.platform", "platform %q is not fronted by gateway %q", platform, gw.GatewayID)
	}
	return s.deliver(s.instance(gw.InstanceID), &gw, contract.TypePassthroughForward, platform, fw, nil)
}
