package pier

// Deviation is one planted connector bug: a realistic mistake that breaks
// exactly one MUST requirement of the contract and nothing else.
type Deviation struct {
	// Name selects the deviation in Options.Deviation (and PIER_DEVIATION
	// for cmd/pier).
	Name string
	// Requirement is the ID of the MUST the deviation breaks.
	Requirement string
	// Description says what pier then does wrong.
	Description string
}

// Names of the planted deviations.
const (
	DevBacklogEveryHello      = "backlog-every-hello"
	DevLegacyOpUnsupported    = "legacy-op-unsupported"
	DevRevokedLive4403        = "revoked-live-4403"
	DevHelloNoPlatformAnswer  = "hello-without-platform-answered"
	DevDescriptorPlatformName = "descriptor-platform-mismatch"
	DevNoTrailingNewline      = "no-trailing-newline"
	DevHTTP401BadToken        = "http-401-bad-token"
	DevDropUnackedOnClose     = "drop-unacked-on-disconnect"
	DevLiveDuringDrain        = "live-during-drain"
	DevAckBeforeFlip          = "ack-before-flip"
	DevErrorOnNoopAck         = "error-frame-on-noop-ack"
	DevCloseOnUnknownType     = "close-on-unknown-type"
	DevSendWithoutMessageID   = "send-without-message-id"
	DevDuplicateHTTP409       = "duplicate-http-409"
	DevFrameBeforeRefusal     = "frame-before-refusal"
	DevExpirySkew             = "expiry-skew"
	DevUnknownChatNoResult    = "unknown-chat-no-result"
	DevChatInfoFlat           = "chat-info-flat"
)

// Deviations lists every planted deviation.
var Deviations = []Deviation{
	{DevBacklogEveryHello, "IDLE-020",
		"every descriptor, not only a connection's first, restarts the replay from the oldest entry, so a gateway fronting two platforms gets its unacknowledged backlog twice on one connection"},
	{DevLegacyOpUnsupported, "OUT-009",
		"typing toward pier-ops, whose descriptor has no supported_ops and so advertises the legacy set, is answered unsupported_op"},
	{DevRevokedLive4403, "AUTH-012",
		"revoking a gateway closes its live socket with 4403 \"revoked\" instead of 4401 \"unauthorized\""},
	{DevHelloNoPlatformAnswer, "HS-014",
		"a hello without a string platform is answered with the descriptor of the gateway's first platform"},
	{DevDescriptorPlatformName, "HS-013",
		"the descriptor answering a pier-ops hello names the platform by its internal name pier.ops"},
	{DevNoTrailingNewline, "TRN-002",
		"the last frame of every WebSocket message is written without its trailing newline"},
	{DevHTTP401BadToken, "AUTH-010",
		"a refused upgrade token is answered with HTTP 401 before the upgrade instead of a 4401 close after it"},
	{DevDropUnackedOnClose, "IDLE-010",
		"replayed entries still unacknowledged when the connection ends are dropped from the buffer instead of redelivered"},
	{DevLiveDuringDrain, "IDLE-012",
		"events arriving while a drain waits for acks are delivered live at once instead of queued behind the backlog"},
	{DevAckBeforeFlip, "IDLE-003",
		"going_idle is acknowledged without flipping the instance, so later events keep arriving live"},
	{DevErrorOnNoopAck, "IDLE-017",
		"an inbound_ack for an unknown or already released bufferId is answered with an error frame"},
	{DevCloseOnUnknownType, "TRN-004",
		"a frame of a type pier does not know closes the socket with 1003 \"unsupported frame type\""},
	{DevSendWithoutMessageID, "OUT-010",
		"a successful send result carries the new message's id as \"id\" instead of \"message_id\""},
	{DevDuplicateHTTP409, "RC-002",
		"a second socket of an instance is refused with HTTP 409 on the upgrade instead of a 4409 \"duplicate\" close"},
	{DevFrameBeforeRefusal, "AUTH-011",
		"a refused socket gets an error frame explaining the refusal before its 4401 close"},
	{DevExpirySkew, "AUTH-006",
		"tokens are accepted up to 60 s after their exp (a clock-skew allowance)"},
	{DevUnknownChatNoResult, "OUT-006",
		"an action toward a chat pier does not know is answered with an error frame only, without an outbound_result"},
	{DevChatInfoFlat, "OUT-019",
		"a successful get_chat_info result carries name and type at the top level of result instead of nested in chat_info"},
}

func deviationByName(name string) (Deviation, bool) {
	for _, d := range Deviations {
		if d.Name == name {
			return d, true
		}
	}
	return Deviation{}, false
}
