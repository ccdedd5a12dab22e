// Package testee is the connector testee contract: the small HTTP control
// API a connector under test exposes so a conformance suite can enroll
// gateways, make platform users send messages, inspect what the connector
// did and move its clock. The suite reaches a connector only through it.
//
// The package holds one Go type per request and answer of every route, and
// [Client], a typed HTTP client for it. relaysim serves the contract under
// /_relaysim/ (package simulator) and answers a superset of each answer
// type; a connector of your own serves whichever routes it can, under any
// base URL, and the suite reports the cases needing a missing route as
// untestable.
//
// Routes, relative to the base URL:
//
//	GET    /health                     → [Health]
//	POST   /gateways                   [EnrollRequest] → [Gateway]
//	POST   /gateways/{id}/rotate       [RotateRequest] → [Gateway]
//	POST   /gateways/{id}/revoke       {} → anything
//	POST   /inbound                    [InboundRequest] → [Delivery]
//	GET    /buffers/{instanceId}       → [Buffer]
//	POST   /passthrough                [PassthroughRequest] → [Delivery]
//	POST   /press                      [PressRequest] → [Delivery]
//	GET    /outbound?gatewayId=ID      → [OutboundList]
//	POST   /scripts                    [ScriptRequest] → anything
//	POST   /faults                     [FaultRequest] → anything
//	DELETE /faults                     → anything
//	POST   /enrollment-tokens          [EnrollmentTokenRequest] → [EnrollmentToken]
//	GET    /clock                      → [Clock]
//	POST   /clock                      [ClockAdvance] → anything
//
// Every body is JSON, sent with Content-Type: application/json. A non-2xx
// answer carries {"error": "..."} (contract.ErrorBody), which [Client]
// returns as an [*Error]. Answers may carry more fields than the types
// here; a client ignores them.
//
// The package imports only package contract; docs/conformance-guide.md
// ("The connector testee contract") is the prose version.
package testee // import "github.com/relaykit/relaykit/contract/testee"
