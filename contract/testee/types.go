package testee

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Health is the answer of GET /health: what the connector says about
// itself. The suite reads it once before a run.
type Health struct {
	// Name identifies the implementation ("relaysim"); informational.
	Name string `json:"name,omitempty"`
	// ContractVersion is the relay contract version the connector speaks
	// (contract.Version); 0 when it does not say.
	ContractVersion int `json:"contractVersion,omitempty"`
	// Platforms are the platforms the connector serves, in order. The
	// suite enrolls its gateways for the first two.
	Platforms []string `json:"platforms"`
	// ManualClock is true when POST /clock can move the connector's clock.
	// Without it the cases that wait out 30 s timers are untestable.
	ManualClock bool `json:"manualClock"`
	// Features are the optional non-op features the connector serves:
	// wake, passthrough, policy, media, provision, enroll. Op features are
	// read from the descriptors instead.
	Features []string `json:"features"`
}

// HasFeature reports whether h declares the optional feature f.
func (h Health) HasFeature(f string) bool { return slices.Contains(h.Features, f) }

// EnrollRequest is the body of POST /gateways: enroll a fresh gateway the
// suite's gateway will authenticate as.
type EnrollRequest struct {
	// GatewayID is the id to enroll; required.
	GatewayID string `json:"gatewayId"`
	// Secret is the HMAC secret; the connector mints one when empty.
	Secret string `json:"secret,omitempty"`
	// Platforms the gateway fronts; default every served platform.
	Platforms []string `json:"platforms,omitempty"`
	// InstanceID is the gateway instance; default the gateway id.
	InstanceID string `json:"instanceId,omitempty"`
	// WakeURL is where the connector sends wake requests (WAKE-*).
	WakeURL string `json:"wakeUrl,omitempty"`
	// Tenant owns the gateway; default the connector's default tenant.
	// The suite uses a second tenant for isolation cases.
	Tenant string `json:"tenant,omitempty"`
}

// Gateway is the answer of POST /gateways and of POST
// /gateways/{id}/rotate: the enrolled gateway. Empty fields mean "as
// requested".
type Gateway struct {
	GatewayID string `json:"gatewayId"`
	// Secret is the current secret; it appears only in these two answers.
	Secret     string   `json:"secret"`
	Platforms  []string `json:"platforms"`
	InstanceID string   `json:"instanceId"`
	Tenant     string   `json:"tenant"`
}

// RotateRequest is the body of POST /gateways/{id}/rotate: make Secret the
// current secret (the connector mints one when empty). The previous secret
// stays valid during the rotation window (AUTH-005). 404 for an unknown
// gateway.
type RotateRequest struct {
	Secret string `json:"secret,omitempty"`
}

// InboundRequest is the body of POST /inbound: a platform user sends
// Event to the gateway. The answer is a [Delivery]; 400 names the field of
// an event the connector refuses, 404 an unknown gateway.
type InboundRequest struct {
	// GatewayID is the gateway that receives the event.
	GatewayID string `json:"gatewayId"`
	// Event is a MessageEvent object (contract.MessageEvent); its
	// source.platform picks the identity, and so the socket, it arrives on.
	// A connector that is its own platform may replace the ids in it with
	// its own, and reports them in the Delivery.
	Event json.RawMessage `json:"event"`
	// Addressed says the message mentions or replies to the bot, which a
	// requireAddress relevance policy needs (HTTP-016).
	Addressed bool `json:"addressed,omitempty"`
}

// DeliveryMode says what became of an injected event.
type DeliveryMode string

// Delivery modes.
const (
	// DeliveryLive: written to a socket of the gateway now.
	DeliveryLive DeliveryMode = "live"
	// DeliveryBuffered: kept in the instance's durable buffer, replayed
	// with a bufferId on the next handshake.
	DeliveryBuffered DeliveryMode = "buffered"
	// DeliveryFiltered: held back by the instance's relevance policy.
	DeliveryFiltered DeliveryMode = "filtered"
	// DeliveryDropped: not delivered (relaysim: an interrupt with no live
	// socket).
	DeliveryDropped DeliveryMode = "dropped"
)

// Delivery is the answer of POST /inbound, /passthrough and /press.
type Delivery struct {
	// Mode is "live", "buffered" or "filtered".
	Mode DeliveryMode `json:"delivery"`
	// BufferID names the buffer entry of a buffered delivery: the
	// bufferId the gateway will see on replay and acks.
	BufferID string `json:"bufferId,omitempty"`
	// MessageID is the event.message_id the gateway will see for this
	// message. A connector that assigns its own ids (one that is its own
	// platform) reports the one it assigned; the suite then correlates by
	// it instead of the id it injected. Empty when the connector does not
	// say, or for a forward.
	MessageID string `json:"messageId,omitempty"`
	// ChatID is the event.source.chat_id the gateway will see, for the
	// same reason.
	ChatID string `json:"chatId,omitempty"`
	// Reason explains a filtered delivery, for the report; free text.
	Reason string `json:"reason,omitempty"`
}

// Buffer is the answer of GET /buffers/{instanceId}: the entries still
// buffered for a gateway instance, oldest first. An unknown instance has
// none.
type Buffer struct {
	Entries []BufferEntry `json:"entries"`
}

// BufferEntry is one buffered event or forward.
type BufferEntry struct {
	BufferID string `json:"bufferId"`
}

// IDs returns the buffer ids of b's entries, in order.
func (b Buffer) IDs() []string {
	ids := make([]string, 0, len(b.Entries))
	for _, e := range b.Entries {
		ids = append(ids, e.BufferID)
	}
	return ids
}

// PassthroughRequest is the body of POST /passthrough: the connector
// forwards a raw platform request (IN-006). The answer is a [Delivery]
// without ids.
type PassthroughRequest struct {
	GatewayID string `json:"gatewayId"`
	// Forward is the forward object of IN-006 as the passthrough_forward
	// frame carries it ({"platform", "botId", "method", "path", "headers",
	// "bodyB64"}); ForwardJSON builds it from a contract.Forward.
	Forward json.RawMessage `json:"forward"`
}

// ForwardJSON encodes fw as the forward object of a passthrough_forward
// frame, for PassthroughRequest.Forward.
func ForwardJSON(fw contract.Forward) (json.RawMessage, error) {
	frame, err := contract.EncodeFrame(contract.PassthroughForward{Forward: fw})
	if err != nil {
		return nil, err
	}
	var f struct {
		Forward json.RawMessage `json:"forward"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		return nil, fmt.Errorf("testee: re-read forward: %w", err)
	}
	return f.Forward, nil
}

// PressRequest is the body of POST /press: a platform user presses option
// OptionID of the prompt the connector rendered as MessageID (IN-013). The
// answer is the [Delivery] of the press event; 404 names messageId when no
// such prompt was answered.
type PressRequest struct {
	GatewayID string `json:"gatewayId"`
	// MessageID is the message_id the connector answered the prompt
	// action with.
	MessageID string `json:"messageId"`
	// OptionID is the id of the option pressed.
	OptionID string `json:"optionId"`
}

// OutboundList is the answer of GET /outbound?gatewayId=ID: the actions
// the connector performed on its platform for the gateway, in arrival
// order.
type OutboundList struct {
	Outbound []OutboundRecord `json:"outbound"`
}

// OutboundRecord is one outbound action as the connector performed it.
type OutboundRecord struct {
	RequestID string `json:"requestId"`
	// Platform is the frame's platform tag, "" when untagged.
	Platform string `json:"platform,omitempty"`
	// ResolvedPlatform is where the action went: the tag, or the
	// connection's default platform (OUT-013).
	ResolvedPlatform string          `json:"resolvedPlatform,omitempty"`
	Op               string          `json:"op"`
	Action           json.RawMessage `json:"action"`
}

// ScriptRequest is the body of POST /scripts the suite sends: make the
// next Times actions of the gateway to ChatID fail with the contract's
// egress decline (OUT-011).
type ScriptRequest struct {
	GatewayID      string `json:"gatewayId"`
	ChatID         string `json:"chatId"`
	EgressDeclined bool   `json:"egressDeclined"`
	// Times is how many actions the script answers; 0 means every one.
	Times int `json:"times"`
}

// FaultRequest is the body of POST /faults the suite sends: refuse new
// sockets (close them 1013, RC-003) while RefuseConnections is true.
type FaultRequest struct {
	RefuseConnections bool `json:"refuseConnections"`
}

// EnrollmentTokenRequest is the body of POST /enrollment-tokens: issue a
// single-use enrollment token for POST /relay/enroll (HTTP-013).
type EnrollmentTokenRequest struct {
	// Tenant the token enrolls into; default the connector's default.
	Tenant string `json:"tenant,omitempty"`
}

// EnrollmentToken is the answer of POST /enrollment-tokens.
type EnrollmentToken struct {
	Token string `json:"token"`
}

// Clock is the answer of GET /clock: the connector's time, which token
// expiry is judged against.
type Clock struct {
	UnixNano int64 `json:"unixNano"`
}

// Time returns c as a time.Time.
func (c Clock) Time() time.Time { return time.Unix(0, c.UnixNano) }

// ClockAdvance is the body of POST /clock: move the connector's clock
// forward, firing the timers due by then in order. It needs
// Health.ManualClock; relaysim answers 409 otherwise.
type ClockAdvance struct {
	Advance Duration `json:"advance"`
}
