package simulator

import (
	"encoding/json"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/contract/testee"
)

// The bodies and answers of the control API under /_relaysim/. The routes
// of the connector testee contract take and answer the types of package
// testee (or, for answers, a superset of them: an answer type here embeds
// its testee type or carries the same JSON fields); the rest are
// relaysim's own. Request bodies are decoded strictly: a field not listed
// here is a 400 naming it.

// Duration is a time.Duration that reads JSON as a Go duration string
// ("1.5s", "30s") or a number of seconds, and writes the string form.
type Duration = testee.Duration

// HealthInfo is the answer of GET /health.
type HealthInfo struct {
	testee.Health
	// OK is always true, for liveness probes.
	OK bool `json:"ok"`
	// Deviations are the names of the active deviations.
	Deviations []string `json:"deviations"`
}

// GatewayList is the answer of GET /gateways: every gateway, revoked ones
// included, without secrets.
type GatewayList struct {
	Gateways []Gateway `json:"gateways"`
}

// EnrolledGateway is the answer of POST /gateways (body: GatewaySpec): the
// gateway with its secret, and the environment block a gateway needs.
type EnrolledGateway struct {
	Gateway
	Env string `json:"env,omitempty"`
}

// EnrollmentTokenRequest is the body of POST /enrollment-tokens.
type EnrollmentTokenRequest struct {
	// Tenant the token enrolls into; default DefaultTenant.
	Tenant string `json:"tenant,omitempty"`
	// TTL is the token's lifetime; default Options.EnrollmentTokenTTL.
	TTL Duration `json:"ttl,omitempty"`
	// Platforms the enrolled gateway fronts; default every served one.
	Platforms []string `json:"platforms,omitempty"`
}

// InterruptRequest is the body of POST /interrupt; see Server.Interrupt.
type InterruptRequest struct {
	GatewayID  string `json:"gatewayId"`
	SessionKey string `json:"sessionKey"`
	// ChatID is filled in from the delivered conversation when empty.
	ChatID string `json:"chatId,omitempty"`
}

// OutboundList is the answer of GET /outbound; a superset of
// testee.OutboundList.
type OutboundList struct {
	Outbound []OutboundRecord `json:"outbound"`
}

// InterruptList is the answer of GET /interrupts.
type InterruptList struct {
	Interrupts []InterruptRecord `json:"interrupts"`
}

// SessionList is the answer of GET /sessions: the open sockets.
type SessionList struct {
	Sessions []SessionInfo `json:"sessions"`
}

// CloseSessionRequest is the body of POST /sessions/{gatewayId}/close.
type CloseSessionRequest struct {
	// Code is the close code; default 1000.
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ClosedSessions is the answer of POST /sessions/{gatewayId}/close.
type ClosedSessions struct {
	Closed int `json:"closed"`
}

// InstanceState is the answer of GET /buffers/{instance}: the instance's
// flip, drain state, buffer (oldest first) and ack statistics; a superset
// of testee.Buffer.
type InstanceState struct {
	Instance string          `json:"instance"`
	Flipped  bool            `json:"flipped"`
	Draining bool            `json:"draining"`
	Entries  []BufferedEntry `json:"entries"`
	Acks     AckStats        `json:"acks"`
}

// PolicyList is the answer of GET /policies/{instance}: the declared
// relevance policies by platform.
type PolicyList struct {
	Instance string                            `json:"instance"`
	Policies map[string]contract.PolicyRequest `json:"policies"`
}

// JournalPage is the answer of GET /journal.
type JournalPage struct {
	Entries []JournalEntry `json:"entries"`
	// Last is the newest sequence number: the next page's since.
	Last uint64 `json:"last"`
}

// ScriptRequest is one script of the body of POST /scripts (which takes
// one or a list); see ResultScript for the fields.
type ScriptRequest struct {
	GatewayID      string          `json:"gatewayId,omitempty"`
	Platform       string          `json:"platform,omitempty"`
	Op             string          `json:"op,omitempty"`
	ChatID         string          `json:"chatId,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Fail           *ScriptFailure  `json:"fail,omitempty"`
	EgressDeclined bool            `json:"egressDeclined,omitempty"`
	NeverAnswer    bool            `json:"neverAnswer,omitempty"`
	Delay          Duration        `json:"delay,omitempty"`
	Times          int             `json:"times,omitempty"`
}

// ResultScript returns the script r describes.
func (r ScriptRequest) ResultScript() ResultScript {
	return ResultScript{
		GatewayID: r.GatewayID, Platform: r.Platform, Op: r.Op, ChatID: r.ChatID, Result: r.Result, Fail: r.Fail,
		EgressDeclined: r.EgressDeclined, NeverAnswer: r.NeverAnswer, Delay: time.Duration(r.Delay), Times: r.Times,
	}
}

// ScriptsAdded is the answer of POST /scripts: the new scripts' ids.
type ScriptsAdded struct {
	IDs []string `json:"ids"`
}

// ScriptState is a script as GET /scripts shows it.
type ScriptState struct {
	ResultScript
	Delay Duration `json:"delay,omitempty"`
}

// ScriptList is the answer of GET /scripts, in match order.
type ScriptList struct {
	Scripts []ScriptState `json:"scripts"`
}

// FaultRequest is the body of POST /faults: a frame fault (drop or delay,
// see Fault), and or the stopPongs and refuseConnections switches. It is
// a superset of testee.FaultRequest.
type FaultRequest struct {
	GatewayID   string    `json:"gatewayId,omitempty"`
	Direction   Direction `json:"direction,omitempty"`
	FrameTypes  []string  `json:"frameTypes,omitempty"`
	Drop        bool      `json:"drop,omitempty"`
	Delay       Duration  `json:"delay,omitempty"`
	Probability float64   `json:"probability,omitempty"`
	Seed        int64     `json:"seed,omitempty"`
	Times       int       `json:"times,omitempty"`
	// StopPongs, when set, stops (true) or resumes (false) answering the
	// pings of GatewayID ("" every gateway).
	StopPongs *bool `json:"stopPongs,omitempty"`
	// RefuseConnections, when set, makes new sockets close 1013 (true) or
	// be accepted again (false).
	RefuseConnections *bool `json:"refuseConnections,omitempty"`
}

// Fault returns the frame fault r describes.
func (r FaultRequest) Fault() Fault {
	return Fault{
		GatewayID: r.GatewayID, Direction: r.Direction, FrameTypes: r.FrameTypes, Drop: r.Drop,
		Delay: time.Duration(r.Delay), Probability: r.Probability, Seed: r.Seed, Times: r.Times,
	}
}

// FaultAdded is the answer of POST /faults; ID names the frame fault
// added, "" when the request only flipped a switch.
type FaultAdded struct {
	OK bool   `json:"ok"`
	ID string `json:"id,omitempty"`
}

// FaultState is a frame fault as GET /faults shows it.
type FaultState struct {
	Fault
	Delay Duration `json:"delay,omitempty"`
}

// FaultList is the answer of GET /faults.
type FaultList struct {
	Faults              []FaultState `json:"faults"`
	RefusingConnections bool         `json:"refusingConnections"`
}

// WakeList is the answer of GET /wakes.
type WakeList struct {
	Wakes []WakeRecord `json:"wakes"`
}

// ClockRequest is the body of POST /clock: Advance moves the manual clock
// forward, Set moves it to an instant (unix seconds or an RFC 3339
// string). It is a superset of testee.ClockAdvance.
type ClockRequest struct {
	Advance *Duration       `json:"advance,omitempty"`
	Set     json.RawMessage `json:"set,omitempty"`
}

// ClockState is the answer of GET and POST /clock; a superset of
// testee.Clock.
type ClockState struct {
	testee.Clock
	Manual bool      `json:"manual"`
	Unix   int64     `json:"unix"`
	Time   time.Time `json:"time"`
}

// Done is the answer of the routes that only act (POST /reset, DELETE
// /scripts, DELETE /faults).
type Done struct {
	OK bool `json:"ok"`
}

// DeviationsRequest is the body of POST /deviations: the names of the new
// active set (docs/relaysim.md lists them); none restores conformance.
type DeviationsRequest struct {
	Deviations []string `json:"deviations"`
}

// DeviationsState is the answer of GET and POST /deviations.
type DeviationsState struct {
	Active []string        `json:"active"`
	Known  []DeviationInfo `json:"known"`
}

// DeviationInfo describes one deviation relaysim knows.
type DeviationInfo struct {
	// Deviation is the name.
	Deviation string `json:"deviation"`
	// Requirement is the ID of the requirement the deviation breaks.
	Requirement string `json:"requirement"`
	// Behaviour says what the simulator does instead.
	Behaviour string `json:"behaviour"`
}

// DescriptorSet is the answer of GET /descriptors: the served platforms
// and the descriptor each hello gets.
type DescriptorSet struct {
	Platforms   []string                                 `json:"platforms"`
	Descriptors map[string]contract.CapabilityDescriptor `json:"descriptors"`
}
