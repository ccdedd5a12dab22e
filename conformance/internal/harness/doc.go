// Package harness is the conformance suite's machinery, without its cases:
// the runner and the Ginkgo engine (run.go, engine.go, entry.go), the case
// handle [S] and its verdicts (spec.go), case definition, registration
// and validation against contract.Requirements (case.go, registry.go,
// uncovered.go and uncovered.yaml, basics.go), results, reports, the
// baseline and transcripts (result.go, report.go, baseline.go,
// transcript.go), the connector target with its testee control API and its
// peer glue (connector.go, control.go, connector_helpers.go, inject.go,
// peer.go on internal/wspeer, httpcall.go), the gateway target with the
// in-process simulator behind the recording front (gateway.go,
// gateway_helpers.go, front.go, front_http.go), the bad-input catalogue's
// entries (catalogue.go) and the deviation matrix (deviations.go).
//
// The cases live in conformance/internal/connectorcases and
// conformance/internal/gatewaycases and register themselves with
// [ConnectorCase] and [GatewayCase] when linked; package conformance links
// both and is the public face: it aliases the types and wraps the functions
// a user needs. What this package exports beyond that face is exported for
// the cases only.
package harness
