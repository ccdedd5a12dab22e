// Package simulator is a complete reference connector for the Hermes relay
// contract (package contract), faithful enough that a real gateway cannot
// tell it from a production connector, plus the control a tester needs.
//
// New starts one on a loopback port, shaped like httptest: URL and RelayURL
// say where it is, Close stops it, and Go methods both drive it (EnrollGateway,
// Inject, Interrupt, Passthrough, PressPrompt, Script, AddFault, CloseSession,
// Reset) and inspect it (Sessions, Outbound, Buffer, Flipped, Acks, Policy,
// Journal, Wakes). RunT starts one for a single go test test and closes it
// in t.Cleanup. The same operations exist over HTTP under /_relaysim/, for
// tests written in any language, with typed bodies and answers
// (control_types.go) and a typed Go client, ControlClient; the routes of
// the connector testee contract take and answer the types of package
// contract/testee. docs/relaysim.md lists every route. The examples are
// the best way to start.
//
// # What it implements
//
//   - /relay: upgrade authentication with the HMAC token scheme and a
//     per-gateway rotation list, refusals as an upgrade followed by a 4401
//     close; a policy for a second socket of one instance; one descriptor
//     per hello from the platform presets; keepalive pings; NDJSON frames
//     capped at 1 MiB, with malformed and oversized input closed 1007 and
//     1009 and unknown frame types ignored.
//   - Outbound: every op answered with the right result shape, gated by the
//     descriptor's supported_ops and the connection's platforms, scriptable
//     per op, chat, platform and gateway.
//   - Inbound: injected events, interrupts and passthrough forwards,
//     delivered live or buffered, within one tenant only, gated by the
//     instance's relevance policy.
//   - going_idle: a durable flip, a per-instance buffer, and an ack-gated
//     drain on the next handshake that redelivers exactly the unacked tail;
//     a wake request to the registered URL at most once per cooldown.
//   - HTTP: provision, enroll, policy and media, with the contract's status
//     codes and JSON error bodies.
//
// Every timer runs on Options.Clock, so tests can use a clock.Manual and
// move time only when they mean to.
//
// # Deviations
//
// The simulator can break one requirement per deviation on purpose, the way
// real connectors have, so a conformance suite can prove it detects the
// bug by failing against it: start relaysim with --deviate, or switch
// deviations at run time through POST /_relaysim/deviations
// (ControlClient.SetDeviations). docs/relaysim.md lists them with the
// requirement each breaks. They are off by default and have no switch in
// Options.
//
// # Security
//
// The simulator is a test tool. Its control API is unauthenticated unless
// Options.ControlToken is set, and it listens on loopback by default for
// that reason. On a loopback listener the control API answers only
// loopback Host names and same-origin requests, and it takes only JSON
// bodies declared as such, so web pages cannot drive it. Secrets and tokens never appear in its logs, journal or
// errors; a FileStore holds gateway secrets in clear (mode 0600) because
// verifying tokens needs them.
package simulator // import "github.com/relaykit/relaykit/simulator"
