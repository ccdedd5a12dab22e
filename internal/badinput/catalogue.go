// Package badinput runs relaykit's bad-input catalogue
// (fixtures/bad/catalogue.json) against a connector: frames, binary
// messages, upgrades and HTTP requests that a connector must refuse,
// ignore or answer in a way the contract pins down, each with the
// requirement it tests. The catalogue itself is language-neutral; this
// package is the Go runner, used by its own tests against relaysim and by
// the conformance suite's connector cases against any connector
// (conformance/internal/connectorcases/badinput.go).
//
// Run takes a Target (where the connector is and the credentials of two
// enrolled gateways of different tenants) and returns one Outcome per
// entry. Entries that need something the target did not provide (an
// identity bearer, a revoked gateway, a way to buffer an event) are
// skipped, with the reason.
package badinput

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/relaykit/relaykit/fixtures"
)

// Where an entry's input is sent.
const (
	WhereFrame   = "ws_frame"   // text messages on an authenticated socket
	WhereBinary  = "ws_binary"  // a binary message on an authenticated socket
	WhereUpgrade = "ws_upgrade" // the WebSocket upgrade request itself
	WhereHTTP    = "http"       // an HTTP request to a contract route
)

// Socket setups of ws_frame and ws_binary entries.
const (
	SetupNone      = "none"      // the authenticated socket, no hello yet
	SetupHandshake = "handshake" // a hello answered with a descriptor (default)
	SetupDrained   = "drained"   // handshake, then one buffered event delivered and acked
)

// Entry is one case of the catalogue.
type Entry struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Requirement string `json:"requirement"`
	// Also names further requirements, of the same level, that together
	// with Requirement say what Reaction asserts (TRN-016 makes an invalid
	// UTF-8 message a malformed frame; TRN-008 says how that is closed).
	Also     []string `json:"also,omitempty"`
	Where    string   `json:"where"`
	Setup    string   `json:"setup,omitempty"`
	Input    Input    `json:"input"`
	Reaction Reaction `json:"reaction"`
	// Needs lists what the target must provide: "identity" (an identity
	// bearer for provision and enroll), "revoked" (a revoked gateway),
	// "buffer" (a way to buffer an event), "unfronted" (a served platform
	// the gateway does not front).
	Needs []string `json:"needs,omitempty"`
}

// Input is what is sent. Strings may hold placeholders, expanded at run
// time: {platform}, {unfronted_platform}, {gateway_id}, {request_id} (fresh
// per entry), {acked_buffer_id}, {foreign_buffer_id}, {media_id},
// {media_id_upper}, {media_id_short}, {other_media_id}.
type Input struct {
	// Messages are sent in order as WebSocket text messages, verbatim
	// (ws_frame).
	Messages []string `json:"messages,omitempty"`
	// Base64 is one binary message, standard base64 (ws_binary).
	Base64 string `json:"base64,omitempty"`
	// Generate builds a large frame at run time (ws_frame).
	Generate *Generate `json:"generate,omitempty"`
	// Token is how to mint the bearer (ws_upgrade, http); absent means the
	// gateway's valid token where the route needs one.
	Token *TokenRecipe `json:"token,omitempty"`
	// Authorization, when set, is sent verbatim instead of a bearer
	// token; "-" sends no Authorization header.
	Authorization string `json:"authorization,omitempty"`
	// Identity sends the target's identity bearer (provision, enroll).
	Identity bool `json:"identity,omitempty"`
	// Method and Path of the HTTP request, or Path of the upgrade
	// (default /relay). Path is sent verbatim, unclean segments included.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Headers are added to the request.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body, verbatim.
	Body string `json:"body,omitempty"`
	// BodySize, when set, sends a generated body of that many bytes
	// instead of Body, streamed, with its Content-Length.
	BodySize int64 `json:"body_size,omitempty"`
	// Repeat sends the upgrade this many times (a flood).
	Repeat int `json:"repeat,omitempty"`
}

// Generate describes a generated frame: a JSON object of exactly Size
// bytes (newline excluded) of an unknown type, padded with "a".
type Generate struct {
	Size int `json:"size"`
	// Kind is what the padded frame is: "" for a frame of a type no
	// connector knows, "send" for an outbound send of {request_id} to the
	// target's chat whose metadata carries the padding (a connector
	// ignores unknown metadata keys, OUT-016), so that accepting it shows
	// as a result rather than as silence.
	Kind string `json:"kind,omitempty"`
	// Newline ends the frame with "\n"; without it the frame never ends.
	Newline bool `json:"newline"`
	// Chunk splits the bytes over messages of at most this many bytes;
	// 0 sends one message.
	Chunk int `json:"chunk,omitempty"`
}

// TokenRecipe says how to mint a token at run time, since tokens expire.
// Kinds: valid, expired (signed with the gateway's secret, exp in the
// past), forged (the gateway's id signed with a wrong secret),
// other_secret (the gateway's id signed with the other tenant's secret),
// unknown_gateway, revoked (a revoked gateway's id and old secret),
// truncated (a valid token missing its last characters), literal (Value
// verbatim).
type TokenRecipe struct {
	Kind  string `json:"kind"`
	Value string `json:"value,omitempty"`
}

// Reaction is what the connector must do; exactly one member is set.
type Reaction struct {
	// Close: the connector closes the socket with this code (and reason,
	// when given).
	Close *CloseReaction `json:"close,omitempty"`
	// HTTP: the answer has this status (or one of Statuses, or any 4xx
	// with Any4xx) and, for an error, the JSON body {"error": "..."}
	// (HTTP-006). The message itself is free text and never checked.
	HTTP *HTTPReaction `json:"http,omitempty"`
	// Ignored: nothing comes back and the socket stays usable, which a
	// follow-up round trip proves. With MustNotSend, "nothing" is only
	// frames of those types: the requirement forbids them and leaves
	// others (an error frame, say) to the connector.
	Ignored     bool     `json:"ignored,omitempty"`
	MustNotSend []string `json:"must_not_send,omitempty"`
	// Reply: a frame comes back matching it, and the socket stays usable.
	Reply *Reply `json:"reply,omitempty"`
	// Deferred: nothing comes back until CompleteWith is sent; then Reply.
	Deferred *Deferred `json:"deferred,omitempty"`
	// Throttle: of Repeat bad upgrades, each is refused 4401 or with this
	// close, at least one with this close; a gateway of another tenant
	// still connects.
	Throttle *CloseReaction `json:"throttle,omitempty"`
	// Unaffected lists, for an ack of a foreign buffer id, that the other
	// tenant's entry must still be pending afterwards.
	ForeignUnaffected bool `json:"foreign_unaffected,omitempty"`
}

// CloseReaction is a WebSocket close.
type CloseReaction struct {
	Code   int    `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// HTTPReaction is an HTTP answer.
type HTTPReaction struct {
	Status   int   `json:"status,omitempty"`
	Statuses []int `json:"statuses,omitempty"`
	// Any4xx accepts any 4xx status: the contract says only that the
	// request is refused (HTTP-006).
	Any4xx bool `json:"any_4xx,omitempty"`
}

// Reply is a frame the connector must send back.
type Reply struct {
	Type string `json:"type"`
	// RequestID of an outbound_result (placeholders allowed).
	RequestID string `json:"requestId,omitempty"`
	// Platform of a descriptor.
	Platform string `json:"platform,omitempty"`
	// Success, Code and ErrorContains check an outbound_result's result.
	// ErrorContains is only for a requirement that itself says what the
	// error names (OUT-015: "an error naming the key").
	Success       *bool  `json:"success,omitempty"`
	Code          string `json:"code,omitempty"`
	ErrorContains string `json:"error_contains,omitempty"`
}

// Deferred is a frame that must not be acted on until it is completed.
type Deferred struct {
	CompleteWith string `json:"complete_with"`
	Reply        Reply  `json:"reply"`
}

// Load reads fixtures/bad/catalogue.json and checks every entry is well
// formed.
func Load() ([]Entry, error) {
	b, err := fixtures.FS.ReadFile("bad/catalogue.json")
	if err != nil {
		return nil, fmt.Errorf("badinput: %w", err)
	}
	var es []Entry
	if err := json.Unmarshal(b, &es); err != nil {
		return nil, fmt.Errorf("badinput: bad/catalogue.json: %w", err)
	}
	seen := map[string]bool{}
	for _, e := range es {
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("badinput: entry %q: %w", e.ID, err)
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("badinput: entry id %q is used twice", e.ID)
		}
		seen[e.ID] = true
	}
	return es, nil
}

func (e Entry) check() error {
	if e.ID == "" || e.Description == "" || e.Requirement == "" {
		return fmt.Errorf("id, description and requirement are required")
	}
	switch e.Where {
	case WhereFrame:
		if len(e.Input.Messages) == 0 && e.Input.Generate == nil {
			return fmt.Errorf("ws_frame needs messages or generate")
		}
	case WhereBinary:
		if e.Input.Base64 == "" {
			return fmt.Errorf("ws_binary needs base64")
		}
	case WhereUpgrade:
	case WhereHTTP:
		if e.Input.Method == "" || e.Input.Path == "" {
			return fmt.Errorf("http needs method and path")
		}
	default:
		return fmt.Errorf("unknown where %q", e.Where)
	}
	switch e.Setup {
	case "", SetupNone, SetupHandshake, SetupDrained:
	default:
		return fmt.Errorf("unknown setup %q", e.Setup)
	}
	n := 0
	r := e.Reaction
	for _, set := range []bool{r.Close != nil, r.HTTP != nil, r.Ignored, r.Reply != nil, r.Deferred != nil, r.Throttle != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("exactly one reaction must be set, got %d", n)
	}
	if r.Throttle != nil && e.Input.Repeat < 2 {
		return fmt.Errorf("a throttle reaction needs repeat")
	}
	return nil
}

// Requirements returns the requirement IDs the entries cover, sorted.
func Requirements(es []Entry) []string {
	set := map[string]bool{}
	for _, e := range es {
		set[e.Requirement] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
