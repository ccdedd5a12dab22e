package harness

import (
	"fmt"
	"strings"

	"github.com/relaykit/relaykit/internal/deviation"
)

// DeviationRow is one deliberate deviation of a reference implementation
// (a simulator mode for the connector suite, a client or adapter mode for
// the gateway suite) and exactly the cases the suite fails on it. The self-check runs
// the Focus cases in strict mode against the deviating implementation and
// requires the failing set to equal Fail; the other focused cases are
// controls that must still pass or be untestable.
type DeviationRow struct {
	Side      Side
	Deviation string
	Focus     []string
	Fail      []string
}

// Breaks returns the requirement the deviation is for, as the registry
// of deviations (internal/deviation) names it; "" for a row that names no
// deviation of its side.
func (d DeviationRow) Breaks() string {
	info, _ := deviation.Lookup(d.Side, d.Deviation)
	return info.Requirement
}

// Also names requirements the deviation breaks besides the one it is for
// (an ack of a live frame also has an empty bufferId): cases may be
// blocked by them, and frames may show them as findings.
func (d DeviationRow) Also() []string {
	info, _ := deviation.Lookup(d.Side, d.Deviation)
	return info.Also
}

// DeviationMatrix lists every deviation mode of the simulator, the client
// and the adapter with the cases that catch it.
var DeviationMatrix = []DeviationRow{
	// Simulator deviations, caught by the connector suite.
	{Connector, "http-401-auth", []string{"AUTH"}, []string{
		"AUTH-002/missing-token", "AUTH-006/expired",
		"AUTH-010/catalogue-upgrade-auth-basic", "AUTH-010/catalogue-upgrade-auth-empty-bearer",
		"AUTH-010/catalogue-upgrade-token-bad-base64", "AUTH-010/catalogue-upgrade-token-expired",
		"AUTH-010/catalogue-upgrade-token-garbage", "AUTH-010/catalogue-upgrade-token-missing",
		"AUTH-010/catalogue-upgrade-token-revoked", "AUTH-010/catalogue-upgrade-token-two-parts",
		"AUTH-010/catalogue-upgrade-token-unknown-gateway", "AUTH-010/malformed-token",
		"AUTH-010/revoked", "AUTH-010/unknown-gateway", "AUTH-010/wrong-secret"}},
	{Connector, "expired-as-unauthorized", []string{"AUTH"}, []string{"AUTH-006/expired",
		"AUTH-010/catalogue-upgrade-token-expired"}},
	{Connector, "no-newline", []string{"TRN-001/", "TRN-012/", "AUTH-002/"}, []string{"TRN-001/frame-hygiene"}},
	{Connector, "replay-not-ack-gated", []string{"IDLE"}, []string{"IDLE-010/out-of-order-ack", "IDLE-010/unacked-tail-redelivered",
		"IDLE-010/unknown-ack-releases-nothing", "IDLE-012/no-live-during-drain", "IDLE-012/other-platform-during-drain"}},
	{Connector, "ack-without-flip", []string{"IDLE-003/", "IDLE-004/", "IDLE-005/"}, []string{"IDLE-003/flip-before-ack"}},
	{Connector, "no-drain", []string{"IDLE", "WAKE"}, []string{"IDLE-003/flip-before-ack", "IDLE-007/passthrough-buffered",
		"IDLE-009/drain-in-order", "IDLE-010/unacked-tail-redelivered", "WAKE-004/failure-swallowed"}},
	{Connector, "redeliver-acked", []string{"IDLE"}, []string{"IDLE-010/unacked-tail-redelivered"}},
	{Connector, "drop-unknown-frames-close", []string{"TRN"}, []string{"TRN-004/catalogue-frame-unknown-type",
		"TRN-004/unknown-frame-type"}},
	{Connector, "no-descriptor-per-hello", []string{"HS-004/", "TRN-012/"}, []string{"HS-004/catalogue-hello-second", "HS-004/descriptor-per-hello", "HS-004/preflight-handshake"}},
	{Connector, "unsupported-op-success", []string{"OUT"}, []string{"OUT-009/catalogue-outbound-op-unknown", "OUT-009/unknown-op", "OUT-009/unadvertised-op"}},
	// A connector that never answers outbound frames fails the preflight
	// send; the cases that rely on sends are blocked by it.
	{Connector, "no-outbound-result", []string{"OUT-006/one-result", "OUT-006/catalogue-outbound-missing-action",
		"TRN-012/"}, []string{"OUT-006/catalogue-outbound-missing-action", "OUT-006/one-result", "OUT-006/preflight-send"}},
	{Connector, "platform-not-fronted-dropped", []string{"OUT-009/"}, []string{"OUT-009/catalogue-outbound-platform-not-fronted", "OUT-009/unfronted-platform"}},
	{Connector, "wrong-result-shape", []string{"OUT-010/", "OUT-007/"}, []string{"OUT-010/op-draft", "OUT-010/op-edit", "OUT-010/op-follow-up", "OUT-010/op-prompt", "OUT-010/op-send", "OUT-010/op-send-media"}},
	{Connector, "exp-zero-rejected", []string{"AUTH"}, []string{"AUTH-007/exp-zero"}},
	{Connector, "no-wake", []string{"WAKE"}, []string{"WAKE-002/bare-get"}},
	{Connector, "policy-ignored", []string{"HTTP"}, []string{"HTTP-014/policy-replaced", "HTTP-015/default-policy", "HTTP-016/relevance-gate"}},
	{Connector, "cross-tenant-media", []string{"HTTP"}, []string{"HTTP-020/catalogue-media-download-other-tenant", "HTTP-020/other-tenant-404"}},
	// Every TRN-008 catalogue case fails here, after a full wait each; two
	// stand for them.
	{Connector, "malformed-no-close", []string{"TRN-008/malformed-json", "TRN-008/not-an-object",
		"TRN-008/catalogue-frame-not-json-truncated", "TRN-008/catalogue-frame-not-object-array", "TRN-016/", "TRN-004/", "TRN-017/"},
		[]string{"TRN-008/catalogue-frame-not-json-truncated", "TRN-008/catalogue-frame-not-object-array",
			"TRN-008/malformed-json", "TRN-008/not-an-object", "TRN-016/catalogue-binary-invalid-utf8", "TRN-016/invalid-utf8"}},
	{Connector, "oversize-no-close", []string{"TRN"}, []string{"TRN-009/catalogue-frame-oversize",
		"TRN-009/catalogue-frame-oversize-unterminated", "TRN-009/oversized-frame"}},
	{Connector, "press-raw-callback", []string{"IN-013/"}, []string{"IN-013/prompt-press"}},

	// Client deviations, caught by the gateway suite against the echo gateway.
	{Gateway, "second-4401-not-terminal", []string{"RC-011/", "RC-012/", "RC-014/"}, []string{"RC-012/second-strike-terminal", "RC-014/fresh-token-role-survives"}},
	{Gateway, "expired-is-terminal", []string{"RC-010/", "RC-013/"}, []string{"RC-013/expired-not-terminal"}},
	{Gateway, "no-ack-buffered", []string{"IDLE-013/", "IDLE-014/", "IDLE-015/", "IDLE-016/", "TRN-014/"}, []string{"IDLE-013/ack-buffered", "IDLE-013/replay-in-one-drain", "IDLE-013/replay-of-admitted",
		"IDLE-015/ack-buffered-passthrough", "IDLE-015/press-forward-acked"}},
	{Gateway, "ack-live", []string{"IDLE-013/", "IDLE-014/", "IDLE-015/", "IDLE-016/"}, []string{"IDLE-016/no-ack-live"}},
	{Gateway, "ack-before-handler", []string{"IDLE-013/", "IDLE-014/"}, []string{"IDLE-014/no-ack-unadmitted"}},
	{Gateway, "no-newline", []string{"TRN-013/", "HS-003/"}, []string{"TRN-013/frame-hygiene"}},
	{Gateway, "stale-token", []string{"AUTH"}, []string{"AUTH-001/fresh-token"}},
	{Gateway, "no-hello-per-identity", []string{"HS-003/", "TRN-014/"}, []string{"HS-003/hello-per-identity"}},
	{Gateway, "requestid-reuse", []string{"OUT"}, []string{"OUT-001/identical-pending-actions", "OUT-001/request-ids"}},
	{Gateway, "no-backoff", []string{"RC-004/", "RC-006/", "RC-007/", "RC-008/"}, []string{"RC-006/backoff-ladder", "RC-007/no-early-reset"}},
	{Gateway, "no-going-idle-wait", []string{"IDLE-006/", "IDLE-019/", "TRN-014/"}, []string{"IDLE-006/going-idle-awaits-ack", "IDLE-019/dormant-after-ack", "IDLE-019/no-ack-stays-connected"}},
	// The echo gateway's typing hook goes through the client's gate alone,
	// so the client's unsupported typing reaches the wire in both cases.
	{Gateway, "unsupported-op-sent", []string{"HS-012/", "TRN-014/"}, []string{"HS-012/op-gating", "HS-012/optional-op-gating"}},
	{Gateway, "reason-omitted", []string{"IN-004/", "TRN-014/"}, []string{"IN-004/interrupt-frame"}},
	{Gateway, "bearer-on-redirect", []string{"HTTP-"}, []string{"HTTP-008/redirect-drops-bearer"}},
	{Gateway, "accept-secretless-provision", []string{"HTTP-"}, []string{"HTTP-011/secretless-answer-is-failure"}},
	{Gateway, "policy-secret-bearer", []string{"HTTP-"}, []string{"HTTP-009/policy-token"}},
	{Gateway, "bearer-on-any-download", []string{"HTTP-"}, []string{"HTTP-022/download-bearer"}},
	{Gateway, "upload-without-filename", []string{"HTTP-", "OUT-023/"}, []string{"HTTP-019/media-upload"}},
	{Gateway, "accept-empty-download", []string{"HTTP-"}, []string{"HTTP-023/empty-download-refused"}},
	{Gateway, "enroll-token-in-header", []string{"HTTP-"}, []string{"HTTP-003/enroll"}},

	// Adapter deviations, caught by the gateway suite against the echo
	// gateway (built on client/adapter).
	{Gateway, "count-code-points", []string{"OUT-031/", "OUT-002/"}, []string{"OUT-031/utf16-limit"}},
	{Gateway, "ignore-supported-ops", []string{"HS-012/", "HS-024/"}, []string{"HS-012/op-gating", "HS-012/optional-op-gating"}},
	{Gateway, "edit-without-support", []string{"HS-024/", "HS-012/"}, []string{"HS-024/edit-needs-supports-edit"}},
	{Gateway, "no-metadata-stamp", []string{"OUT-027/", "OUT-002/"}, []string{"OUT-027/metadata-stamp"}},
	{Gateway, "answer-foreign-prompts", []string{"IN-014/", "IN-004/"}, []string{"IN-014/foreign-prompt-press"}},
	{Gateway, "long-prompt-ids", []string{"OUT-024/"}, []string{"OUT-024/prompt-shape"}},
	{Gateway, "media-kind-file", []string{"OUT-023/"}, []string{"OUT-023/send-media"}},
}

// deviationMatrixMarkdown renders the matrix for docs/conformance.md.
func deviationMatrixMarkdown() string {
	var b strings.Builder
	b.WriteString("## Deviation matrix\n\n")
	b.WriteString("The suite is proven sensitive: the simulator, the client and its adapter each have deliberate deviation\n")
	b.WriteString("modes, one per real-world deviation (see the field notes) and per MUST that can be broken. The self-check\n")
	b.WriteString("(`go test ./conformance/selfcheck`) runs the focused cases in strict mode against each mode and\n")
	b.WriteString("requires exactly the listed cases to fail; the other focused cases must not fail. The deviations, the\n")
	b.WriteString("requirement each is for and what the implementation does instead come from one registry\n")
	b.WriteString("(`internal/deviation`); relaysim takes the connector's with `--deviate`, the echo gateway the\n")
	b.WriteString("client's and the adapter's from `RELAYKIT_DEVIATIONS`.\n\n")
	b.WriteString("| suite | deviation | breaks | what it does instead | focused cases | cases that must fail |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, d := range DeviationMatrix {
		info, _ := deviation.Lookup(d.Side, d.Deviation)
		impl := "relaysim"
		if d.Side == Gateway {
			impl = "echogateway (" + string(info.Component) + ")"
		}
		breaks := info.Requirement
		if len(info.Also) > 0 {
			breaks += " (also " + strings.Join(info.Also, ", ") + ")"
		}
		var fail []string
		for _, f := range d.Fail {
			fail = append(fail, "`"+f+"`")
		}
		fmt.Fprintf(&b, "| %s | %s `%s` | %s | %s | `%s` | %s |\n", d.Side, impl, d.Deviation, breaks, info.Description,
			strings.Join(d.Focus, "`, `"), strings.Join(fail, "<br>"))
	}
	return b.String()
}
