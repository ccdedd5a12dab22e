// Package conformance is the conformance suite of the Hermes relay connector
// contract: a connector suite, in which the suite plays the gateway against a
// connector under test, and a gateway suite, in which the suite plays the
// connector (relaysim behind a scripted, recording front) and starts the
// gateway under test once per case.
//
// Entry points:
//
//   - [RunConnectorSuite] and [RunGatewaySuite] run a suite inside a Go test
//     and fail it unless the run is conformant;
//   - [RunConnector] and [RunGateway] return a [Result] (cmd/conform uses
//     them);
//   - [List], [Cases] and [CoverageMarkdown] describe the suites without
//     running them.
//
// # Cases
//
// Every check is a [Case]: a value with a stable ID ("AUTH-010/wrong-secret"),
// the requirement IDs of contract.Requirements it proves, the spec sentence,
// the testee capabilities it needs and a body. At run time each case becomes
// one Ginkgo spec labelled, on the leaf only, with its requirement IDs, its
// level (MUST, SHOULD or MAY), its side and its feature, with a "spec-ref"
// report entry pointing into docs/relay-connector-contract.md. [Validate]
// checks the definition against the registry before every run: IDs unique and
// well-formed, requirement IDs known and binding the case's side, one level
// per case, and every observable MUST covered by a case of each side it binds
// or listed with a reason in uncovered.yaml.
//
// # Verdicts
//
// A case ends as pass, fail (non-conformant), warn (a SHOULD broken, unless
// strict), harness-error, untestable, n/a or skipped; see [Verdict]. Skips
// are never counted as passes. Every frame received from the implementation
// is checked with contract.ValidateFrame, and a violation fails the case under
// the requirement it breaks. A failure carries the requirement, what was
// expected, what happened and the case's frame transcript, with tokens and
// secrets redacted.
//
// # Layout
//
// The harness: run.go, engine.go and entry.go run a suite; spec.go is the
// case handle [S] and its verdicts; case.go, registry.go and uncovered.go
// define and validate cases against contract.Requirements; result.go,
// report.go, baseline.go and transcript.go make the reports; connector.go
// and control.go are the connector target and its testee control API (the
// typed client of contract/testee); gateway.go, front.go and front_http.go
// are the gateway target, the in-process simulator and the recording
// front before it. peer.go is the suite's side of a connection to a
// connector, on the module's one WebSocket test peer (internal/wspeer),
// which the bad-input catalogue and the soak use too.
//
// The cases: one file per contract section and side, named by the
// requirement prefix's section (connector_auth.go, gateway_transport.go,
// ...: TRN transport, AUTH auth, HS handshake, OUT outbound, IN inbound,
// IDLE idle, WAKE wake, HTTP http, RC rc, SKEY skey), beside the preflight
// cases (connector_preflight.go, gateway_preflight.go), the bad-input
// catalogue's (connector_badinput.go) and the helpers the cases of one
// side share (connector_helpers.go, gateway_helpers.go). A helper used by
// one section's cases lives in that section's file.
//
// # One run per process
//
// Ginkgo's RunSpecs may run once per process, so a process runs one suite.
// Tests that need several runs (such as this module's self-check in
// conformance/selfcheck) run each in a child process.
//
// docs/conformance-guide.md describes the command, the testee contracts,
// the report formats, the baseline file and the exit codes.
package conformance
