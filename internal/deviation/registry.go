// Package deviation is the one registry of the contract violations that
// relaykit's reference implementations commit on purpose: the simulator
// (relaysim) for the connector suite, the client and its adapter (the echo
// gateway) for the gateway suite. A conformance suite run against a
// deviating implementation must fail the requirement the deviation breaks;
// that is how the self-check (conformance.DeviationMatrix) proves the suite
// catches the bug. Each deviation reproduces a failure seen in a real
// implementation.
//
// The registry is data (Info: name, component, the requirement broken, what
// the implementation does instead), so the matrix, relaysim's control route
// and the docs all read the same entry. The switches stay out of the
// exported API of client, client/adapter and simulator: each keeps its Set
// in an unexported field and registers, with Register, how Apply reaches it.
// Only this module can import the package, so no user of those packages can
// turn a deviation on by accident; relaysim's --deviate flag, its control
// route and the echo gateway's RELAYKIT_DEVIATIONS take the names.
package deviation

import (
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// Component is the implementation a deviation belongs to.
type Component string

// The components that deviate.
const (
	// Simulator is package simulator and relaysim, the reference connector.
	Simulator Component = "simulator"
	// Client is package client, the reference gateway client.
	Client Component = "client"
	// Adapter is package client/adapter, the turn adapter the echo gateway
	// is built on.
	Adapter Component = "adapter"
)

// Side returns the side of the contract the component implements, and so
// the side whose suite catches its deviations.
func (c Component) Side() contract.Side {
	if c == Simulator {
		return contract.SideConnector
	}
	return contract.SideGateway
}

// ID identifies one deviation of the registry.
type ID uint8

// The deviations, in registry order. The names are in Info.
const (
	SimHTTP401Auth ID = iota
	SimExpiredAsUnauthorized
	SimNoNewline
	SimReplayNotAckGated
	SimAckWithoutFlip
	SimNoDrain
	SimRedeliverAcked
	SimDropUnknownFramesClose
	SimNoDescriptorPerHello
	SimUnsupportedOpSuccess
	SimNoOutboundResult
	SimPlatformNotFrontedDropped
	SimWrongResultShape
	SimExpZeroRejected
	SimNoWake
	SimPolicyIgnored
	SimCrossTenantMedia
	SimMalformedNoClose
	SimOversizeNoClose
	SimPressRawCallback

	ClientSecond4401NotTerminal
	ClientExpiredIsTerminal
	ClientNoAckBuffered
	ClientAckLive
	ClientAckBeforeHandler
	ClientNoNewline
	ClientStaleToken
	ClientNoHelloPerIdentity
	ClientRequestIDReuse
	ClientNoBackoff
	ClientNoGoingIdleWait
	ClientUnsupportedOpSent
	ClientReasonOmitted
	ClientBearerOnRedirect
	ClientAcceptSecretlessProvision
	ClientPolicySecretBearer
	ClientBearerOnAnyDownload
	ClientUploadWithoutFilename
	ClientAcceptEmptyDownload
	ClientEnrollTokenInHeader

	AdapterCountCodePoints
	AdapterIgnoreSupportedOps
	AdapterEditWithoutSupport
	AdapterNoMetadataStamp
	AdapterAnswerForeignPrompts
	AdapterLongPromptIDs
	AdapterMediaKindFile

	count // the number of deviations; Set has a bit for each
)

// A Set has one bit per deviation.
var _ [64 - count]struct{}

// Info is one deviation of the registry.
type Info struct {
	ID ID
	// Name is how flags, environment variables, the control route and the
	// deviation matrix spell the deviation; unique on its side.
	Name      string
	Component Component
	// Requirement is the ID of the one requirement the deviation is for:
	// the conformance suite fails a case of it when the implementation
	// runs with the deviation.
	Requirement string
	// Also lists requirements the deviation breaks besides Requirement (an
	// ack of a live frame also has an empty bufferId), which the self-check
	// accepts as causes of blocked cases and findings.
	Also []string
	// Needs lists deviations that must be on as well for this one to show
	// on the wire; Parse adds them.
	Needs []ID
	// Description says what the implementation does instead of what the
	// requirement asks.
	Description string
}

var registry = [count]Info{
	SimHTTP401Auth:               {Name: "http-401-auth", Component: Simulator, Requirement: "AUTH-010", Description: "refuses a bad, missing, expired or revoked token with HTTP 401 instead of upgrading and closing 4401"},
	SimExpiredAsUnauthorized:     {Name: "expired-as-unauthorized", Component: Simulator, Requirement: "AUTH-010", Description: "closes 4401 with reason unauthorized for a token that merely expired"},
	SimNoNewline:                 {Name: "no-newline", Component: Simulator, Requirement: "TRN-002", Description: "writes frames without the trailing newline"},
	SimReplayNotAckGated:         {Name: "replay-not-ack-gated", Component: Simulator, Requirement: "IDLE-010", Description: "drains the whole buffer at once and deletes entries as they are sent, without waiting for acks"},
	SimAckWithoutFlip:            {Name: "ack-without-flip", Component: Simulator, Requirement: "IDLE-003", Description: "answers going_idle with going_idle_ack without flipping the instance to buffered-only"},
	SimNoDrain:                   {Name: "no-drain", Component: Simulator, Requirement: "IDLE-009", Description: "never replays the buffer; goes live right after the handshake"},
	SimRedeliverAcked:            {Name: "redeliver-acked", Component: Simulator, Requirement: "IDLE-010", Description: "replays already-acked entries again at the start of every drain"},
	SimDropUnknownFramesClose:    {Name: "drop-unknown-frames-close", Component: Simulator, Requirement: "TRN-004", Description: "closes 1003 on a frame of unknown type instead of ignoring it"},
	SimNoDescriptorPerHello:      {Name: "no-descriptor-per-hello", Component: Simulator, Requirement: "HS-004", Description: "answers only the first hello of a connection with a descriptor"},
	SimUnsupportedOpSuccess:      {Name: "unsupported-op-success", Component: Simulator, Requirement: "OUT-009", Description: "answers an op its descriptor does not advertise with success"},
	SimNoOutboundResult:          {Name: "no-outbound-result", Component: Simulator, Requirement: "OUT-006", Description: "never answers outbound frames"},
	SimPlatformNotFrontedDropped: {Name: "platform-not-fronted-dropped", Component: Simulator, Requirement: "OUT-009", Description: "silently drops outbound for a platform the connection does not front"},
	SimWrongResultShape:          {Name: "wrong-result-shape", Component: Simulator, Requirement: "OUT-010", Description: "answers successful message-producing ops without message_id"},
	SimExpZeroRejected:           {Name: "exp-zero-rejected", Component: Simulator, Requirement: "AUTH-007", Description: "refuses tokens with exp 0 as unauthorized"},
	SimNoWake:                    {Name: "no-wake", Component: Simulator, Requirement: "WAKE-002", Description: "never sends wake requests"},
	SimPolicyIgnored:             {Name: "policy-ignored", Component: Simulator, Requirement: "HTTP-016", Description: "stores relevance policies but delivers every event"},
	SimCrossTenantMedia:          {Name: "cross-tenant-media", Component: Simulator, Requirement: "HTTP-020", Description: "serves media to a bearer of another tenant"},
	SimMalformedNoClose:          {Name: "malformed-no-close", Component: Simulator, Requirement: "TRN-008", Description: "skips malformed and non-object lines instead of closing 1007"},
	SimOversizeNoClose:           {Name: "oversize-no-close", Component: Simulator, Requirement: "TRN-009", Description: "skips oversized frames instead of closing 1009"},
	SimPressRawCallback:          {Name: "press-raw-callback", Component: Simulator, Requirement: "IN-013", Description: "delivers a prompt press as a text event holding the raw hp1: callback token instead of a prompt_response"},

	ClientSecond4401NotTerminal: {Name: "second-4401-not-terminal", Component: Client, Requirement: "RC-012", Description: "treats a 4401 on the fresh-token connection as another first strike, re-dialling immediately forever instead of latching revocation"},
	ClientExpiredIsTerminal:     {Name: "expired-is-terminal", Component: Client, Requirement: "RC-013", Description: "applies the revocation strike rules to a 4401 with reason expired, which must never be terminal"},
	ClientNoAckBuffered:         {Name: "no-ack-buffered", Component: Client, Requirement: "IDLE-013", Also: []string{"IDLE-015"}, Description: "never sends inbound_ack, so every buffered delivery (inbound and passthrough_forward) replays on every reconnect"},
	// Acking a live frame means acking without a bufferId.
	ClientAckLive: {Name: "ack-live", Component: Client, Requirement: "IDLE-016", Also: []string{"IDLE-002"}, Description: "also acks live deliveries, sending inbound_ack with an empty bufferId"},
	// The ack goes out before the handler ran, which breaks IDLE-013's
	// "only after admission" (the soak's gateway ledger, which sees
	// admission, names it), but the wire shows it only when the handler
	// then refuses the event: IDLE-014's case is the one that fails.
	ClientAckBeforeHandler:   {Name: "ack-before-handler", Component: Client, Requirement: "IDLE-014", Also: []string{"IDLE-013"}, Description: "acks a buffered delivery as soon as it arrives, before the handler admitted it, so an event the handler refuses is acked and never replays"},
	ClientNoNewline:          {Name: "no-newline", Component: Client, Requirement: "TRN-002", Description: "writes frames without the trailing newline"},
	ClientStaleToken:         {Name: "stale-token", Component: Client, Requirement: "AUTH-001", Description: "mints one upgrade token and reuses it on every dial instead of minting a fresh one per dial"},
	ClientNoHelloPerIdentity: {Name: "no-hello-per-identity", Component: Client, Requirement: "HS-003", Description: "sends only the first identity's hello"},
	// Sequential calls do not break the requirement; a check needs
	// concurrent ones.
	ClientRequestIDReuse: {Name: "requestid-reuse", Component: Client, Requirement: "OUT-001", Description: "gives every outbound the same requestId, so concurrent calls collide"},
	ClientNoBackoff:      {Name: "no-backoff", Component: Client, Requirement: "RC-006", Description: "re-dials immediately after every failure, forever"},
	// IDLE-006 (core) rather than IDLE-019 (feature dormant): every gateway
	// that goes idle breaks the first; only one that declares dormant is
	// checked for the second.
	ClientNoGoingIdleWait:           {Name: "no-going-idle-wait", Component: Client, Requirement: "IDLE-006", Also: []string{"IDLE-019"}, Description: "returns from GoIdle right after writing going_idle, so the gateway closes without awaiting going_idle_ack, and GoDormant tears the socket down without it"},
	ClientUnsupportedOpSent:         {Name: "unsupported-op-sent", Component: Client, Requirement: "HS-012", Description: "ignores supported_ops and sends every op"},
	ClientReasonOmitted:             {Name: "reason-omitted", Component: Client, Requirement: "IN-004", Description: "writes interrupt frames without the reason key"},
	ClientBearerOnRedirect:          {Name: "bearer-on-redirect", Component: Client, Requirement: "HTTP-008", Description: "keeps Authorization when an HTTP call follows a redirect to another port of the same host, as Go's default redirect rule does"},
	ClientAcceptSecretlessProvision: {Name: "accept-secretless-provision", Component: Client, Requirement: "HTTP-011", Description: "takes a 2xx provision answer without a secret as success and adopts its empty secret, so a later answer that has one is ignored"},
	ClientPolicySecretBearer:        {Name: "policy-secret-bearer", Component: Client, Requirement: "HTTP-009", Description: "sends the raw gateway secret as the bearer of /relay/policy instead of an upgrade token"},
	ClientBearerOnAnyDownload:       {Name: "bearer-on-any-download", Component: Client, Requirement: "HTTP-022", Description: "attaches the upgrade token to every media download, whatever its origin or path"},
	ClientUploadWithoutFilename:     {Name: "upload-without-filename", Component: Client, Requirement: "HTTP-019", Description: "uploads media without the X-Media-Filename header"},
	ClientAcceptEmptyDownload:       {Name: "accept-empty-download", Component: Client, Requirement: "HTTP-023", Description: "returns an empty media download as an attachment of zero bytes instead of refusing it"},
	ClientEnrollTokenInHeader:       {Name: "enroll-token-in-header", Component: Client, Requirement: "HTTP-003", Description: "sends the enrollment token as the bearer of /relay/enroll and leaves enrollmentToken out of the body"},

	AdapterCountCodePoints: {Name: "count-code-points", Component: Adapter, Requirement: "OUT-031", Description: "measures content in code points even where the descriptor advertises utf16, so text with characters outside the BMP overflows the limit"},
	// Without the client's deviation the client's own gate would keep the
	// unadvertised frames off the wire.
	AdapterIgnoreSupportedOps:   {Name: "ignore-supported-ops", Component: Adapter, Requirement: "HS-012", Needs: []ID{ClientUnsupportedOpSent}, Description: "uses every optional op (react, prompt, send_media, draft, delete, thread ops, get_chat_info) without looking at supported_ops, and so never takes a fallback"},
	AdapterEditWithoutSupport:   {Name: "edit-without-support", Component: Adapter, Requirement: "HS-024", Description: "streams by editing even when the descriptor says supports_edit false"},
	AdapterNoMetadataStamp:      {Name: "no-metadata-stamp", Component: Adapter, Requirement: "OUT-027", Description: "sends outbound actions without the scope_id, user_id and profile learned from the chat's inbound events"},
	AdapterAnswerForeignPrompts: {Name: "answer-foreign-prompts", Component: Adapter, Requirement: "IN-014", Description: "treats a press on a prompt minted by another gateway process as its own unknown prompt and answers it with the expiry notice, instead of swallowing it"},
	AdapterLongPromptIDs:        {Name: "long-prompt-ids", Component: Adapter, Requirement: "OUT-024", Description: "mints 39-character prompt ids (its nonce, a dot and 32 hex digits) where 32 characters are allowed, and skips the id and callback checks, so a connector could not fit the press into a 64-byte callback"},
	AdapterMediaKindFile:        {Name: "media-kind-file", Component: Adapter, Requirement: "OUT-023", Description: "sends attachments with media_kind file, a kind some platforms use but the contract does not know"},
}

func init() {
	for i := range registry {
		registry[i].ID = ID(i)
	}
}

// All lists every deviation in registry order: the simulator's, the
// client's, then the adapter's.
func All() []Info {
	out := make([]Info, len(registry))
	copy(out, registry[:])
	return out
}

// Of lists the deviations of the components cs, in registry order.
func Of(cs ...Component) []Info {
	var out []Info
	for _, info := range registry {
		for _, c := range cs {
			if info.Component == c {
				out = append(out, info)
			}
		}
	}
	return out
}

// Info returns the registry entry of id.
func (id ID) Info() Info { return registry[id] }

// Name returns the name of id.
func (id ID) Name() string { return registry[id].Name }

// String returns the component and name, as in "client/no-newline".
func (id ID) String() string {
	if int(id) >= len(registry) {
		return fmt.Sprintf("deviation(%d)", uint8(id))
	}
	return string(registry[id].Component) + "/" + registry[id].Name
}

// Lookup finds the deviation named name among those of side's components.
// Names are unique on a side (the client and the adapter share one
// environment variable) but not across them: the simulator and the client
// each have a no-newline.
func Lookup(side contract.Side, name string) (Info, bool) {
	for _, info := range registry {
		if info.Name == name && info.Component.Side() == side {
			return info, true
		}
	}
	return Info{}, false
}

// Parse reads a comma-separated list of deviation names of the components
// cs, as relaysim's --deviate and the echo gateway's RELAYKIT_DEVIATIONS
// give them. Blank items are skipped; an unknown name is an error that
// lists the known ones. The deviations a named one Needs come with it.
func Parse(s string, cs ...Component) (Set, error) {
	var set Set
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, ok := lookupIn(part, cs)
		if !ok {
			return 0, fmt.Errorf("unknown deviation %q (known: %s)", part, strings.Join(names(Of(cs...)), ", "))
		}
		set = set.With(id)
		for _, n := range registry[id].Needs {
			set = set.With(n)
		}
	}
	return set, nil
}

func lookupIn(name string, cs []Component) (ID, bool) {
	for _, info := range Of(cs...) {
		if info.Name == name {
			return info.ID, true
		}
	}
	return 0, false
}

func names(infos []Info) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Name
	}
	return out
}
