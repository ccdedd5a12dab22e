package client

import (
	"fmt"
	"strings"
)

// Deviation names one deliberate contract violation the client can be told
// to commit. Deviations exist so the gateway conformance suite can prove that
// each of its checks catches the bug it is meant to catch (a mutant of the
// reference testee must fail exactly the matching requirement). Each one
// reproduces a failure seen in a real gateway. Never enable one in
// production.
type Deviation string

// Deviations of the client. Each breaks exactly one gateway requirement of
// the contract; the requirement is named in its comment.
const (
	// DevSecond4401NotTerminal treats a 4401 on the fresh-token connection
	// as another first strike, re-dialling immediately forever instead of
	// latching revocation (RC-012).
	DevSecond4401NotTerminal Deviation = "second-4401-not-terminal"

	// DevExpiredIsTerminal applies the revocation strike rules to a 4401
	// with reason "expired", which must never be terminal (RC-013).
	DevExpiredIsTerminal Deviation = "expired-is-terminal"

	// DevNoAckBuffered never sends inbound_ack, so every buffered delivery
	// replays on every reconnect (IDLE-013, IDLE-015).
	DevNoAckBuffered Deviation = "no-ack-buffered"

	// DevAckLive also acks live deliveries, sending inbound_ack with an
	// empty bufferId (IDLE-016; the empty id also breaks IDLE-002).
	DevAckLive Deviation = "ack-live"

	// DevAckBeforeHandler acks a buffered delivery as soon as it arrives,
	// before the handler admitted it (IDLE-013).
	DevAckBeforeHandler Deviation = "ack-before-handler"

	// DevNoNewline writes frames without the trailing newline (TRN-002).
	DevNoNewline Deviation = "no-newline"

	// DevStaleToken mints one upgrade token and reuses it on every dial
	// instead of minting a fresh one per dial (AUTH-001).
	DevStaleToken Deviation = "stale-token"

	// DevNoHelloPerIdentity sends only the first identity's hello
	// (HS-003).
	DevNoHelloPerIdentity Deviation = "no-hello-per-identity"

	// DevRequestIDReuse gives every outbound the same requestId, so
	// concurrent calls collide (OUT-001). Sequential calls do not break
	// the requirement; a check needs concurrent ones.
	DevRequestIDReuse Deviation = "requestid-reuse"

	// DevNoBackoff re-dials immediately after every failure, forever
	// (RC-006).
	DevNoBackoff Deviation = "no-backoff"

	// DevNoGoingIdleWait returns from GoIdle right after writing
	// going_idle, and GoDormant tears the socket down without awaiting
	// going_idle_ack (IDLE-019).
	DevNoGoingIdleWait Deviation = "no-going-idle-wait"

	// DevUnsupportedOpSent ignores supported_ops and sends every op
	// (HS-012).
	DevUnsupportedOpSent Deviation = "unsupported-op-sent"

	// DevReasonOmitted writes interrupt frames without the reason key
	// (IN-004).
	DevReasonOmitted Deviation = "reason-omitted"

	// DevBearerOnRedirect keeps Authorization when an HTTP call follows a
	// redirect to another port of the same host, as Go's default redirect
	// rule does (HTTP-008).
	DevBearerOnRedirect Deviation = "bearer-on-redirect"

	// DevAcceptSecretlessProvision takes a 2xx provision answer without a
	// secret as success and adopts its empty secret, so a later answer
	// that has one is ignored (HTTP-011).
	DevAcceptSecretlessProvision Deviation = "accept-secretless-provision"

	// DevPolicySecretBearer sends the raw gateway secret as the bearer of
	// /relay/policy instead of an upgrade token (HTTP-009).
	DevPolicySecretBearer Deviation = "policy-secret-bearer"

	// DevBearerOnAnyDownload attaches the upgrade token to every media
	// download, whatever its origin or path (HTTP-022).
	DevBearerOnAnyDownload Deviation = "bearer-on-any-download"

	// DevUploadWithoutFilename uploads media without the X-Media-Filename
	// header (HTTP-019).
	DevUploadWithoutFilename Deviation = "upload-without-filename"

	// DevAcceptEmptyDownload returns an empty media download as an
	// attachment of zero bytes instead of refusing it (HTTP-023).
	DevAcceptEmptyDownload Deviation = "accept-empty-download"

	// DevEnrollTokenInHeader sends the enrollment token as the bearer of
	// /relay/enroll and leaves enrollmentToken out of the body (HTTP-003).
	DevEnrollTokenInHeader Deviation = "enroll-token-in-header"
)

// requirements maps each deviation to the requirement it breaks.
var requirements = map[Deviation]string{
	DevSecond4401NotTerminal: "RC-012",
	DevExpiredIsTerminal:     "RC-013",
	DevNoAckBuffered:         "IDLE-013",
	DevAckLive:               "IDLE-016",
	DevAckBeforeHandler:      "IDLE-013",
	DevNoNewline:             "TRN-002",
	DevStaleToken:            "AUTH-001",
	DevNoHelloPerIdentity:    "HS-003",
	DevRequestIDReuse:        "OUT-001",
	DevNoBackoff:             "RC-006",
	DevNoGoingIdleWait:       "IDLE-019",
	DevUnsupportedOpSent:     "HS-012",
	DevReasonOmitted:         "IN-004",

	DevBearerOnRedirect:          "HTTP-008",
	DevAcceptSecretlessProvision: "HTTP-011",
	DevPolicySecretBearer:        "HTTP-009",
	DevBearerOnAnyDownload:       "HTTP-022",
	DevUploadWithoutFilename:     "HTTP-019",
	DevAcceptEmptyDownload:       "HTTP-023",
	DevEnrollTokenInHeader:       "HTTP-003",
}

// Requirement returns the ID of the contract requirement d breaks, "" for
// an unknown deviation. A conformance self-check expects exactly that ID to
// fail when the client runs with d.
func (d Deviation) Requirement() string { return requirements[d] }

// AllDeviations lists every deviation the client knows, in a stable order.
func AllDeviations() []Deviation {
	return []Deviation{
		DevSecond4401NotTerminal, DevExpiredIsTerminal, DevNoAckBuffered, DevAckLive,
		DevAckBeforeHandler, DevNoNewline, DevStaleToken, DevNoHelloPerIdentity,
		DevRequestIDReuse, DevNoBackoff, DevNoGoingIdleWait, DevUnsupportedOpSent,
		DevReasonOmitted, DevBearerOnRedirect, DevAcceptSecretlessProvision, DevPolicySecretBearer,
		DevBearerOnAnyDownload, DevUploadWithoutFilename, DevAcceptEmptyDownload, DevEnrollTokenInHeader,
	}
}

// ParseDeviations parses a comma-separated list of deviation names, as the
// example gateway reads it from its environment. Blank entries are skipped;
// an unknown name is an error.
func ParseDeviations(s string) ([]Deviation, error) {
	var out []Deviation
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d := Deviation(part)
		if !d.known() {
			return nil, fmt.Errorf("unknown deviation %q", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func (d Deviation) known() bool {
	for _, k := range AllDeviations() {
		if k == d {
			return true
		}
	}
	return false
}

// deviationSet is the resolved set; the zero value deviates from nothing.
type deviationSet map[Deviation]bool

func newDeviationSet(list []Deviation) (deviationSet, error) {
	if len(list) == 0 {
		return nil, nil
	}
	s := deviationSet{}
	for _, d := range list {
		if !d.known() {
			return nil, fmt.Errorf("unknown deviation %q", d)
		}
		s[d] = true
	}
	return s, nil
}

func (s deviationSet) has(d Deviation) bool { return s[d] }
