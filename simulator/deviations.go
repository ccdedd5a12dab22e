package simulator

import (
	"fmt"
	"strings"
)

// Deviation names one contract requirement the simulator breaks on purpose,
// the way some real connector did. A conformance suite run against a
// deviating simulator must fail the named requirement; that is how the
// suite proves it catches the bug. Deviations are off by default and can be
// changed while the server runs (SetDeviations, POST /_relaysim/deviations).
type Deviation string

// Deviations. Each breaks exactly one behaviour; DeviationInfos lists the
// requirement each breaks.
const (
	DevHTTP401Auth               Deviation = "http-401-auth"
	DevExpiredAsUnauthorized     Deviation = "expired-as-unauthorized"
	DevNoNewline                 Deviation = "no-newline"
	DevReplayNotAckGated         Deviation = "replay-not-ack-gated"
	DevAckWithoutFlip            Deviation = "ack-without-flip"
	DevNoDrain                   Deviation = "no-drain"
	DevRedeliverAcked            Deviation = "redeliver-acked"
	DevDropUnknownFramesClose    Deviation = "drop-unknown-frames-close"
	DevNoDescriptorPerHello      Deviation = "no-descriptor-per-hello"
	DevUnsupportedOpSuccess      Deviation = "unsupported-op-success"
	DevNoOutboundResult          Deviation = "no-outbound-result"
	DevPlatformNotFrontedDropped Deviation = "platform-not-fronted-dropped"
	DevWrongResultShape          Deviation = "wrong-result-shape"
	DevExpZeroRejected           Deviation = "exp-zero-rejected"
	DevNoWake                    Deviation = "no-wake"
	DevPolicyIgnored             Deviation = "policy-ignored"
	DevCrossTenantMedia          Deviation = "cross-tenant-media"
	DevMalformedNoClose          Deviation = "malformed-no-close"
	DevOversizeNoClose           Deviation = "oversize-no-close"
	DevPressRawCallback          Deviation = "press-raw-callback"
)

// DeviationInfo describes one deviation.
type DeviationInfo struct {
	Deviation Deviation `json:"deviation"`
	// Requirement is the ID of the requirement the deviation breaks.
	Requirement string `json:"requirement"`
	// Behaviour says what the simulator does instead.
	Behaviour string `json:"behaviour"`
}

var deviationInfos = []DeviationInfo{
	{DevHTTP401Auth, "AUTH-010", "refuses a bad, missing, expired or revoked token with HTTP 401 instead of upgrading and closing 4401"},
	{DevExpiredAsUnauthorized, "AUTH-010", "closes 4401 with reason unauthorized for a token that merely expired"},
	{DevNoNewline, "TRN-002", "writes frames without the trailing newline"},
	{DevReplayNotAckGated, "IDLE-010", "drains the whole buffer at once and deletes entries as they are sent, without waiting for acks"},
	{DevAckWithoutFlip, "IDLE-003", "answers going_idle with going_idle_ack without flipping the instance to buffered-only"},
	{DevNoDrain, "IDLE-009", "never replays the buffer; goes live right after the handshake"},
	{DevRedeliverAcked, "IDLE-010", "replays already-acked entries again at the start of every drain"},
	{DevDropUnknownFramesClose, "TRN-004", "closes 1003 on a frame of unknown type instead of ignoring it"},
	{DevNoDescriptorPerHello, "HS-004", "answers only the first hello of a connection with a descriptor"},
	{DevUnsupportedOpSuccess, "OUT-009", "answers an op its descriptor does not advertise with success"},
	{DevNoOutboundResult, "OUT-006", "never answers outbound frames"},
	{DevPlatformNotFrontedDropped, "OUT-009", "silently drops outbound for a platform the connection does not front"},
	{DevWrongResultShape, "OUT-010", "answers successful message-producing ops without message_id"},
	{DevExpZeroRejected, "AUTH-007", "refuses tokens with exp 0 as unauthorized"},
	{DevNoWake, "WAKE-002", "never sends wake requests"},
	{DevPolicyIgnored, "HTTP-016", "stores relevance policies but delivers every event"},
	{DevCrossTenantMedia, "HTTP-020", "serves media to a bearer of another tenant"},
	{DevMalformedNoClose, "TRN-008", "skips malformed and non-object lines instead of closing 1007"},
	{DevOversizeNoClose, "TRN-009", "skips oversized frames instead of closing 1009"},
	{DevPressRawCallback, "IN-013", "delivers a prompt press as a text event holding the raw hp1: callback token instead of a prompt_response"},
}

// DeviationInfos lists every deviation with the requirement it breaks.
func DeviationInfos() []DeviationInfo {
	return append([]DeviationInfo(nil), deviationInfos...)
}

// ParseDeviations parses a comma-separated list of deviation names; empty
// items are skipped.
func ParseDeviations(s string) ([]Deviation, error) {
	var out []Deviation
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		out = append(out, Deviation(part))
	}
	if _, err := normalizeDeviations(out); err != nil {
		return nil, err
	}
	return out, nil
}

// deviationSet is a bit set over deviationInfos, read on hot paths without
// locks through an atomic value.
type deviationSet uint32

func normalizeDeviations(ds []Deviation) (deviationSet, error) {
	var set deviationSet
	for _, d := range ds {
		i := deviationIndex(d)
		if i < 0 {
			return 0, fmt.Errorf("unknown deviation %q (known: %s)", d, knownDeviations())
		}
		set |= 1 << i
	}
	return set, nil
}

func deviationIndex(d Deviation) int {
	for i, info := range deviationInfos {
		if info.Deviation == d {
			return i
		}
	}
	return -1
}

func knownDeviations() string {
	names := make([]string, len(deviationInfos))
	for i, info := range deviationInfos {
		names[i] = string(info.Deviation)
	}
	return strings.Join(names, ", ")
}

func (s deviationSet) has(d Deviation) bool {
	if s == 0 {
		return false // the common case costs no lookup
	}
	i := deviationIndex(d)
	return i >= 0 && s&(1<<i) != 0
}

func (s deviationSet) list() []Deviation {
	out := []Deviation{}
	for i, info := range deviationInfos {
		if s&(1<<i) != 0 {
			out = append(out, info.Deviation)
		}
	}
	return out
}
