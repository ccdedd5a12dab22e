// Package pier is a foreign connector double: a complete connector of the
// relay contract (docs/relay-connector-contract.md), written apart from
// relaysim and from relaykit's contract package, that behaves unlike
// relaysim wherever the contract leaves room. It exists to measure the
// conformance suite's precision: against a conformant pier the suite must
// report no failure, and against a pier with one planted deviation
// (Options.Deviation, Deviations) exactly that deviation's requirement
// fails.
//
// pier runs in-process like httptest: New starts it, URL is the relay's
// base URL, ControlURL the testee control API, Close stops it.
// cmd/pier runs it from the command line.
//
// # Its own platform
//
// pier is the chat platform itself. It fronts two platforms that are not
// relaykit's presets: "pier" (1500 UTF-16 units, markdown "commonmark",
// threads, and the optional ops get_chat_info, delete, react,
// thread_create and thread_rename, plus a descriptor field of its own that
// gateways ignore) and "pier-ops" (640 code points, plain text, no edit
// support, and no supported_ops at all, so it advertises the legacy set;
// pier performs an edit there by re-posting, and the result names the new
// message). It mints its own ids for everything: every delivered event's
// message_id (an injected message_id is ignored; POST /inbound answers the
// id and chat the gateway will see), sent messages, threads and buffer
// entries, none of them hex. A gateway may post only to the one known chat
// (Options.KnownChat, "pier-lobby"), to chats pier delivered an event from
// for the gateway's tenant on that platform, and to threads pier opened;
// any other chat, message or thread is answered not_found (contract 5.7).
// Over-long content fails without a code (OUT-008 makes it optional).
//
// # Choices where the contract gives freedom
//
//   - Second socket of an instance: policy reject (RC-002). The newer socket
//     gets an error frame and 4409 "duplicate"; a socket whose predecessor
//     is still closing gets DuplicateGrace to let it go first.
//   - Token spelling: lenient, like the reference connector (AUTH-008):
//     padding, the standard base64 alphabet, whitespace, leading zeros in
//     exp and uppercase hex are accepted; the signature is always checked
//     over the canonical text. exp 0 never expires (AUTH-007).
//   - Drain: at most 3 replays unacknowledged (IDLE-011), replayed right
//     after the first descriptor, even before the descriptors of later
//     hellos; an entry for a platform the socket has not answered waits for
//     that hello during the hello window and is then left for a later
//     connection (IN-007).
//   - Hello checks: a connection whose hellos name no fronted platform is
//     closed 1008 "platform not fronted" HelloWindow (3 s) after its first
//     hello; one with no hello at all 1008 "no hello" after 25 s.
//   - Keepalive: a ping every 27 s, 1011 "keepalive timeout" when one stays
//     unanswered for 60 s (TRN-011).
//   - Sockets beyond MaxSockets are shed with 1013 "pier is at capacity"
//     (RC-003); the reason is free for 1013.
//   - Writing: frames queued together go out in one WebSocket message;
//     permessage-deflate is accepted when offered; any Origin is accepted.
//   - Relevance: the default policy only (HTTP-015): a bot's message outside
//     a DM is filtered. pier serves no /relay/policy.
//   - Revocation closes the gateway's live socket 4401 "unauthorized", with
//     no frame before it.
//   - Noticing a closed socket: at once by default. With
//     Options.LateCloseNotice pier notices late, as a connector that learns
//     of a dead socket from a failed write does: a socket the gateway
//     closed while it was delivering live leaves a ghost on its instance,
//     and the next event injected for the instance (one per ended socket)
//     is answered "live", written to the dead socket, and, the write having
//     failed, buffered as the newest entry with a fresh bufferId (IDLE-007
//     binds what was not written). The event after it is buffered as
//     usual; a new connection of the instance forgets the ghost first; a
//     close pier decided on leaves none; with the buffer full the event is
//     answered 507, never reported live and lost.
//   - Live events a socket never wrote: an event answered "live" that is
//     still queued, over the queue's bound or in a message whose write
//     failed when its socket ends is buffered with a fresh bufferId, in its
//     place by injection order (IDLE-007, IDLE-012). One that no longer fits
//     the buffer is lost, logged at Warn and counted: its inject was
//     answered already.
//
// # Error frames
//
// pier writes {"type":"error","code":...,"message":...} frames, a type no
// gateway knows and every gateway ignores (TRN-004), exactly here:
//
//   - before a close the contract requires: 1008 "platform not fronted"
//     (HS-014), 1008 "no hello" (HS-017), 1007 (TRN-008, TRN-016), 1009
//     (TRN-009), 4409 "duplicate" (RC-002), 1013 (RC-003), 1011 "keepalive
//     timeout" (TRN-011) and 1001 "shutting down" on Close. No requirement
//     forbids frames before these closes.
//   - beside a hello that names no platform or one pier does not front for
//     the gateway: HS-014 forbids only a descriptor there.
//   - beside an outbound without a non-empty string requestId, which gets
//     no result: OUT-006 binds only frames that carry one.
//   - after a not_found result, naming its requestId: the result is the
//     answer OUT-006 requires; nothing forbids more frames.
//
// Never before a 4401 (AUTH-011), in answer to any ack (IDLE-017), to a
// frame of unknown or missing type (TRN-003, TRN-004), to an interrupt
// (IN-011), to unknown keys (OUT-016) or to blank lines (TRN-017).
//
// # The testee control API
//
// Only the minimum of the connector testee contract, on its own listener:
// GET /health (two platforms, manualClock false, no features), POST
// /gateways, POST /gateways/{id}/rotate, POST /gateways/{id}/revoke and
// POST /inbound, which answers {"delivery", "bufferId"?, "messageId",
// "chatId"}. No clock control, no buffer listing, faults, scripts, outbound
// log or optional HTTP feature (policy, media, provision, enroll, wake,
// passthrough): cases that need them are untestable or not applicable.
//
// # Bounds
//
// Every retained structure is bounded: gateways (MaxGateways), sockets
// (MaxSockets), each instance's buffer (MaxBuffered, MaxBufferBytes; POST
// /inbound answers 507 when full), what pier remembers per tenant
// (MaxRemembered chats, messages, threads and session keys, oldest
// forgotten first), each socket's write queue (MaxQueued, MaxQueuedBytes;
// 1011 when a gateway stops reading) and an unfinished frame (1 MiB, then
// 1009). State is in memory: "durable" means it survives sockets, not the
// process.
package pier // import "github.com/relaykit/relaykit/internal/foreign/pier"
