// Package client is the gateway side of the Hermes relay contract: what a Go
// gateway imports to speak to a relay connector, and the yardstick for
// gateway behaviour in the conformance suite.
//
// A gateway dials out to the connector over one WebSocket and keeps it up;
// outbound actions (send, edit, draft, ...) go up it as requestId-correlated
// frames, and inbound events, interrupts and passthrough forwards come down
// it. The client does everything the reference Hermes gateway transport
// does, and guards the places where the reference is fragile.
//
// The entry points are Boot, which runs the reference boot sequence
// (configuration, provisioning or enrollment, relevance policy, dial) and
// returns a connected Client; New and Connect for programs that bring their
// own configuration; Client.Do and the typed methods (Send, Edit, Draft,
// ...) for outbound actions; and a Handler for what comes in. The examples
// are the best way to start; examples/echogateway is a complete gateway.
//
// # Outbound
//
// Every call returns a contract.Result and an error, and never hangs: it
// is bounded by Options.OutboundTimeout, fails at once when there is no
// socket, and fails at once when the socket dies under it. The error is
// nil exactly when the result is a success; otherwise it is a *CallError
// holding the result, which matches the client's own cause with errors.Is
// (ErrNotConnected, ErrClosed, ErrConnectionLost, ErrOutboundTimeout,
// ErrUnsupportedOp, ErrSendFailed, or the context's error) and nothing when
// the connector answered success:false. A result with ambiguous:true means
// the frame reached the wire and the action may have been applied; unlike
// the reference, a connection lost after the write is ambiguous too
// (settlement 9). Ops the target platform's descriptor does not advertise
// are refused locally with code unsupported_op and never sent.
//
// # Inbound
//
// Every delivery takes one pipeline, off the reader goroutine, so a slow
// handler never delays outbound results: admission, then handling.
// Deliveries of one session are handled one at a time in arrival order;
// sessions run concurrently, up to Options.MaxQueuedDeliveries deliveries
// in the pipeline, queued or running. An ack stands for admission: a
// buffered event is acked once admitted and never otherwise; a passthrough
// forward only when PassthroughDelivery.Ack is called. A plain Handler
// admits an event by returning nil from HandleEvent (or calling
// Delivery.Ack). A Handler that also implements Admitter admits each
// delivery as it arrives (AdmitEvent, AdmitPassthrough), ahead of handling
// it, so its event is acked while an earlier event of the same session is
// still being handled; this is how package adapter acks a message once its
// turn is queued and runs the turn later, without a queue of its own.
// Replays are deduplicated by platform, chat and message id (the 512 most
// recent) and by passthrough_buffer:<bufferId>, and a replay of work
// already admitted is acked without being handled again. An interrupt
// cancels the context of the session's running handler, the one context
// its work runs under, with cause ErrInterrupted; Close cancels every
// handler with cause ErrClosed. A malformed line, an invalid descriptor or
// a panicking handler never kills the reader: lines are logged and
// skipped, handlers are recovered, and a descriptor missing a required
// field closes the socket 1002 and re-dials with backoff.
//
// # Connection supervision
//
// A Client is its supervisor and the session it supervises: one
// connection at a time, whose end the supervisor reads to plan the next
// dial, while outbound calls and the inbound pipeline carry on across
// connections. A single supervisor goroutine owns every dial, so two dials
// never race.
// Each dial mints a fresh token and sends one hello per identity; the first
// descriptor of a connection is its default. Waits follow the reference
// ladder: drawn from [d/2, d] with d = min(1s·2^(n−1), 30s), n reset only
// after a connection stayed up 60s from its first descriptor. A 4401 close
// before any handshake is an ordinary failure; the first after a handshake
// triggers one immediate re-dial with a fresh token, and a 4401 on the
// connection that dial opened is terminal: StateRevoked, ErrRevoked, no
// further dial. Reason "expired" is never terminal; HTTP refusals of the
// upgrade and every other close code are retried. Every timer runs on
// Options.Clock, so tests drive it with a clock.Manual.
//
// # Why Connect failed
//
// Connect waits for the first descriptor. When its context ends first it
// returns a *ConnectError saying what the dials ran into, never a bare
// "context deadline exceeded"; errors.Is matches the context's error and
// one reason:
//
//   - ErrRefused: nothing answers at the URL (connection refused, DNS,
//     TLS), or the upgrade got an HTTP status (*DialError.StatusCode);
//   - ErrUnauthorized: 4401 "unauthorized", a wrong gateway id or secret,
//     or a revoked gateway;
//   - ErrTokenExpired: 4401 "expired", the two clocks apart;
//   - ErrNoDescriptor: the socket opened but no hello was answered (the
//     gateway fronts none of the platforms, the connector closed 1008, or
//     HandshakeTimeout passed);
//   - ErrTimeout: the upgrade got no answer (DialTimeout, or the context
//     ended while it waited).
//
// *DialError and *CloseError carry the status, close code and reason. With
// Options.Reconnect off, Connect returns the first failure itself, matching
// the same reasons.
//
// # Lifecycle
//
// GoIdle sends going_idle and keeps serving until going_idle_ack; GoDormant
// then closes the socket for a scale-to-zero suspend and re-dials on the
// dormant cadence; HoldRedial parks the supervisor; Close drains calls in
// flight for a grace period and shuts down for good. Options.OnState and
// State report every transition.
//
// # Security
//
// Credentials live in memory only. Tokens, secrets and bearers are never
// logged. A bearer never follows a redirect to another origin, and media
// downloads send it only to the connector's own /relay/media/ re-host.
//
// # Deviations
//
// The client can break one contract requirement per deviation, the way
// real gateways have, so the conformance suite can prove that it catches
// them. They are for this module's self-check only and have no switch in
// Options; the echo gateway (examples/echogateway) takes their names from
// RELAYKIT_DEVIATIONS, and docs/conformance.md lists them.
package client // import "github.com/relaykit/relaykit/client"
