package main

import (
	"fmt"
	"strings"
)

// deviation is one planted gateway bug LANTERN_DEVIATION can switch on.
// Each breaks exactly one requirement of docs/relay-connector-contract.md
// (RC-006 is a SHOULD; every other one a MUST). The table in doc.go is the
// same list; a test keeps the two identical.
type deviation struct {
	name        string
	requirement string
	description string
}

// Names of the deviations, used where the code branches on one.
const (
	devLadderWithoutJitter    = "ladder-without-jitter"
	devReplayDroppedUnacked   = "replay-dropped-unacked"
	devReplayAckedTwice       = "replay-acked-twice"
	devForwardAckedOnArrival  = "forward-acked-on-arrival"
	devForwardAckedTwice      = "forward-acked-twice"
	devContentAddressedIDs    = "content-addressed-request-ids"
	devFenceReopenUnbudgeted  = "fence-reopen-unbudgeted"
	devLimitOfDefault         = "limit-of-default-descriptor"
	devInterruptCancelsChat   = "interrupt-cancels-chat"
	devBearerToConnectorPaths = "bearer-to-connector-paths"
	devExpiredCountsAsStrike  = "expired-counts-as-strike"
	devHellosSorted           = "hellos-sorted"
	devDedupeWithoutMessageID = "dedupe-without-message-id"
	devDiscordScopeInKey      = "discord-scope-in-session-key"
	devNullReplyToOmitted     = "null-reply-to-omitted"
)

// deviations lists every planted bug, in the order of the table in doc.go.
var deviations = []deviation{
	{devLadderWithoutJitter, "RC-006", "waits exactly d = min(base·2^(n−1), cap) before reconnect attempt n (102/202/401/806/1604 ms with a 100 ms base), never a draw from [d/2, d]"},
	{devReplayDroppedUnacked, "IDLE-013", "a buffered replay of an event already admitted is dropped without an ack, so the connector redelivers it on every connection"},
	{devReplayAckedTwice, "IDLE-013", "a buffered replay of an event already admitted is acked by the replay filter and again by the admission path"},
	{devForwardAckedOnArrival, "IDLE-015", "a buffered passthrough_forward is acked as soon as it is read, before admission, so a forward that then fails admission (a /reject slash command) is lost"},
	{devForwardAckedTwice, "IDLE-015", "a buffered passthrough_forward is acked by the reader on arrival and again by the handler after admission"},
	{devContentAddressedIDs, "OUT-001", "requestId is a hash of the destination and the action, so identical actions pending at once (two typing indicators in one chat) share one requestId"},
	{devFenceReopenUnbudgeted, "OUT-031", "a split inside a ``` code block closes and reopens the fence without reserving room for the fences, so such parts run up to 4 units over max_message_length"},
	{devLimitOfDefault, "OUT-031", "replies are split by the connection's default descriptor (its max_message_length and len_unit) instead of the destination platform's"},
	{devInterruptCancelsChat, "IN-012", "interrupt_inbound cancels every running turn in its chat_id, so in a group chat one user's interrupt cancels another user's turn"},
	{devBearerToConnectorPaths, "HTTP-022", "a media download carries the bearer to any path on the connector's origin, not only to /relay/media/"},
	{devExpiredCountsAsStrike, "RC-013", "a 4401 \"expired\" after a handshake is treated as a first strike: an immediate re-dial, and a second 4401 on that connection is terminal"},
	{devHellosSorted, "HS-003", "hellos are sent in alphabetical platform order instead of the configured order"},
	{devDedupeWithoutMessageID, "IN-010", "an event without a message id is deduplicated on <platform>:<chat_id>:, so a second id-less event in a chat is dropped as a replay"},
	{devDiscordScopeInKey, "SKEY-001", "Discord session keys include scope_id (the guild), as Slack keys do"},
	{devNullReplyToOmitted, "OUT-004", "send and send_media leave reply_to out when it is null (an omitempty tag) instead of sending null"},
}

// Styles are conformant alternatives LANTERN_STYLE can switch on (a comma
// list): choices the contract and the gateway testee contract leave open,
// taken differently again, to probe the suite's precision. Unlike a
// deviation, a style breaks no requirement.
const (
	// styleStreamWordSends streams /stream, where neither drafts nor edits
	// are allowed, as one plain send per word ("else plain sends").
	styleStreamWordSends = "stream-word-sends"
	// styleAttachmentLines answers /attachments with one "<n> bytes" or
	// "failed" per line instead of a comma list.
	styleAttachmentLines = "attachment-lines"
	// styleSameOriginRedirects follows no redirect to another origin at
	// all, for any request (HTTP-008 only forbids carrying the bearer
	// there).
	styleSameOriginRedirects = "same-origin-redirects-only"
)

var styles = []string{styleStreamWordSends, styleAttachmentLines, styleSameOriginRedirects}

// parseDeviation checks the value of LANTERN_DEVIATION: empty, or the name
// of exactly one deviation.
func parseDeviation(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if strings.Contains(v, ",") {
		return "", fmt.Errorf("LANTERN_DEVIATION names one deviation at a time, got %q", v)
	}
	for _, d := range deviations {
		if d.name == v {
			return v, nil
		}
	}
	return "", fmt.Errorf("LANTERN_DEVIATION: unknown deviation %q", v)
}
