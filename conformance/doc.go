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
// The types here ([Options], [ConnectorOptions], [GatewayOptions],
// [Result], [Baseline], ...) are aliases of the harness's, so go doc shows
// their fields and methods under the harness's path, for example
//
//	go doc github.com/relaykit/relaykit/conformance/internal/harness.ConnectorOptions
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
// This package is the suite's public face only (api.go): aliases of the
// harness's types and wrappers of its functions, plus the embedded
// mutation section of the coverage document (mutation.go). The suite
// itself is three internal packages:
//
//   - conformance/internal/harness: the runner and the Ginkgo engine, the
//     case handle S and its verdicts, case registration and validation
//     against contract.Requirements (with uncovered.yaml), results,
//     reports, the baseline, transcripts, the connector target with its
//     typed testee control API client (contract/testee) and its side of
//     the module's one WebSocket test peer (internal/wspeer, which the
//     bad-input catalogue and the soak use too), and the gateway target:
//     the in-process simulator behind the recording front.
//   - conformance/internal/connectorcases and
//     conformance/internal/gatewaycases: the cases of each side, one file
//     per contract section named by the requirement prefix's section
//     (auth.go, transport.go, ...: TRN transport, AUTH auth, HS handshake,
//     OUT outbound, IN inbound, IDLE idle, WAKE wake, HTTP http, RC rc,
//     SKEY skey), beside the preflight cases and, for connectors, the
//     bad-input catalogue's. A helper used by one section's cases lives in
//     that section's file; what several sections or both sides use is the
//     harness's.
//
// The cases import the harness (as h) and register themselves when
// linked; this package links both sides. They never import the simulator
// or the client: internal/layering checks it.
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
