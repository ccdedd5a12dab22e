package adapter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/relaykit/relaykit/client"
)

// Deviation names one deliberate contract violation the adapter can be
// told to commit, so the gateway conformance suite can prove each of its
// checks catches the bug it targets. Never enable one in production.
type Deviation string

// Deviations of the adapter.
const (
	// DevCountCodePoints measures content in code points even where the
	// descriptor advertises utf16, so text with characters outside the
	// BMP overflows the limit.
	DevCountCodePoints Deviation = "count-code-points"

	// DevIgnoreSupportedOps uses every optional op (react, prompt,
	// send_media, draft, delete, thread ops, get_chat_info) without
	// looking at supported_ops, and so never takes a fallback. The client
	// still refuses an unadvertised op locally unless it runs with its own
	// deviation unsupported-op-sent; with both, the frames reach the wire.
	DevIgnoreSupportedOps Deviation = "ignore-supported-ops"

	// DevEditWithoutSupport streams by editing even when the descriptor
	// says supports_edit false.
	DevEditWithoutSupport Deviation = "edit-without-support"

	// DevNoMetadataStamp sends outbound actions without the scope_id,
	// user_id and profile learned from the chat's inbound events.
	DevNoMetadataStamp Deviation = "no-metadata-stamp"

	// DevAnswerForeignPrompts treats a press on a prompt minted by another
	// gateway process as its own unknown prompt and answers it with the
	// expiry notice, instead of swallowing it.
	DevAnswerForeignPrompts Deviation = "answer-foreign-prompts"

	// DevLongPromptIDs mints prompt ids "<nonce>.<32 hex>", 39 characters
	// where OUT-024 allows 32, and skips the id and callback checks, so
	// a connector could not fit the press into a 64-byte callback.
	DevLongPromptIDs Deviation = "long-prompt-ids"

	// DevMediaKindFile sends attachments with media_kind "file", a kind
	// some platforms use but the contract does not know (OUT-023).
	DevMediaKindFile Deviation = "media-kind-file"
)

// AllDeviations lists every deviation of the adapter, in a stable order.
func AllDeviations() []Deviation {
	return []Deviation{
		DevCountCodePoints, DevIgnoreSupportedOps, DevEditWithoutSupport,
		DevNoMetadataStamp, DevAnswerForeignPrompts, DevLongPromptIDs, DevMediaKindFile,
	}
}

// ParseDeviations parses a comma-separated list of adapter deviation
// names. Blank entries are skipped; an unknown name is an error.
func ParseDeviations(s string) ([]Deviation, error) {
	c, a, err := SplitDeviations(s)
	if err != nil {
		return nil, err
	}
	for _, d := range c {
		if d != client.DevUnsupportedOpSent || !slices.Contains(a, DevIgnoreSupportedOps) {
			return nil, fmt.Errorf("%q is a client deviation, not an adapter one", d)
		}
	}
	return a, nil
}

// SplitDeviations parses one comma-separated list naming deviations of
// both the client and the adapter, as a gateway reads it from a single
// environment variable, and returns each package's share. An unknown name
// is an error. ignore-supported-ops brings the client's
// unsupported-op-sent with it: without it the client's own gate would keep
// the unadvertised frames off the wire.
func SplitDeviations(s string) ([]client.Deviation, []Deviation, error) {
	var cs []client.Deviation
	var as []Deviation
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case slices.Contains(AllDeviations(), Deviation(part)):
			as = append(as, Deviation(part))
			if Deviation(part) == DevIgnoreSupportedOps && !slices.Contains(cs, client.DevUnsupportedOpSent) {
				cs = append(cs, client.DevUnsupportedOpSent)
			}
		case slices.Contains(client.AllDeviations(), client.Deviation(part)):
			if !slices.Contains(cs, client.Deviation(part)) {
				cs = append(cs, client.Deviation(part))
			}
		default:
			return nil, nil, fmt.Errorf("unknown deviation %q", part)
		}
	}
	return cs, as, nil
}
