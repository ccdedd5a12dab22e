// Command lantern is a foreign gateway double for the gateway conformance
// suite: a gateway of the relay contract (docs/relay-connector-contract.md)
// written apart from package client, client/adapter, simulator and
// contract, on github.com/coder/websocket and the standard library only.
// It implements the gateway testee contract of docs/conformance-guide.md
// (the environment, the RELAYKIT_* timer knobs, the echo profile with every
// command, and the features passthrough, prompt, provision, media,
// send_media, dormant, enroll and policy), so that
//
//	go build -o /tmp/lantern ./internal/foreign/lantern
//	go run ./cmd/conform gateway --exec /tmp/lantern --echo --timers --feature all
//
// judges an implementation whose authors did not write the suite's cases.
//
// # Where lantern chooses differently from package client
//
// Everything the contract leaves open, lantern takes its own way:
//
//   - Frames are its own NDJSON: every non-ASCII character escaped as
//     \uXXXX (surrogate pairs for astral ones), members in its own order,
//     outbound frames tagged with platform (and botId) whenever the
//     connector fronts the destination, never untagged.
//   - requestIds are 32 lowercase hex characters laid out like a UUIDv7 (a
//     millisecond clock, then random bits), not random UUIDv4s.
//   - Reconnect waits come from crypto/rand at microsecond resolution,
//     uniform in [d/2, d] (RC-006 asks for exactly that distribution); a
//     handshake timeout closes 1002 "no descriptor".
//   - Keepalive: the first ping at a random point of the second half of
//     the interval, then one every interval after the previous pong.
//   - An event is admitted when its record is appended to the admission
//     journal and fsynced (LANTERN_JOURNAL, default a temporary file
//     removed at exit); the ack follows the sync, before the turn runs.
//     Replays are recognised by <platform>:<chat_id>:<message_id> among the
//     1,024 most recent admitted events, forwards by their bufferId.
//   - Replies are split at line breaks, then at spaces (word boundaries),
//     never inside a character or before a combining mark, without part
//     indicators; a cut inside a ``` block closes and reopens the fence.
//   - Streams seal one draft per message-sized group of words, or edit one
//     message per group, or, with neither, send plain segments of a few
//     words; prompts use
//     ids "lt<6 hex>-<base36 counter>" and reply to the triggering message.
//   - Echo replies are "lantern: <text>"; turns run concurrently (64 at
//     most; an event that finds every slot busy is not admitted, so a
//     buffered one replays).
//
// # Environment
//
// GATEWAY_RELAY_URL, _ID, _SECRET, _PLATFORMS, _BOT_IDS, _IDENTITY_TOKEN,
// _IDP_TOKEN_URL, _IDP_CLIENT_ID, _IDP_CLIENT_SECRET, _IDP_SCOPE,
// _ENROLL_TOKEN, _INSTANCE_ID, _WAKE_URL, _ENDPOINT, _ROUTE_KEYS and
// {PLATFORM}_REQUIRE_MENTION, _FREE_RESPONSE_CHANNELS, _ALLOW_BOTS as the
// reference gateway reads them; the knobs RELAYKIT_BACKOFF_BASE (1s),
// RELAYKIT_BACKOFF_CAP (30s), RELAYKIT_PING_INTERVAL (30s),
// RELAYKIT_PING_TIMEOUT (60s), RELAYKIT_HANDSHAKE_TIMEOUT (30s),
// RELAYKIT_GO_IDLE_TIMEOUT (10s), RELAYKIT_STABLE_WINDOW (60s) and
// RELAYKIT_TOKEN_TTL (300s); and its own LANTERN_JOURNAL (the admission
// journal's path, capped at 16 MiB), LANTERN_RESULT_TIMEOUT (30s),
// LANTERN_STYLE (see below),
// LANTERN_LOG_LEVEL (info) and LANTERN_DEVIATION. A malformed duration is a
// usage error (exit 2). Logs go to stderr through log/slog and never carry
// a secret or a token. Exit codes: 0 after a signal, 1 when boot fails, 2
// on bad configuration, 3 when the relay revoked access.
//
// # Styles
//
// LANTERN_STYLE (a comma list) switches on conformant alternatives, choices
// the contract and the testee contract leave open taken differently again,
// to probe the suite's precision; none breaks a requirement:
//
//	stream-word-sends           /stream without drafts or edits: one plain send per word ("else plain sends")
//	attachment-lines            /attachments: one "<n> bytes" or "failed" per line, not a comma list
//	same-origin-redirects-only  no redirect to another origin is followed (HTTP-008 forbids only the bearer there)
//
// # Deviations
//
// LANTERN_DEVIATION names one planted bug; each breaks exactly one
// requirement (all MUSTs but RC-006, a SHOULD). deviations.go holds the
// same table for tests.
//
//	name                           requirement  bug
//	ladder-without-jitter          RC-006       waits exactly d before attempt n (102/202/401/806/1604 ms with a 100 ms base)
//	replay-dropped-unacked         IDLE-013     a buffered replay of an admitted event is dropped without an ack
//	replay-acked-twice             IDLE-013     a buffered replay of an admitted event is acked twice
//	forward-acked-on-arrival       IDLE-015     a buffered passthrough_forward is acked on arrival, before admission
//	forward-acked-twice            IDLE-015     a buffered passthrough_forward is acked on arrival and after admission
//	content-addressed-request-ids  OUT-001      requestId hashes destination and action: identical pending actions share one
//	fence-reopen-unbudgeted        OUT-031      a split inside a code block adds fences without reserving room for them
//	limit-of-default-descriptor    OUT-031      replies are split by the default descriptor, not the destination's
//	interrupt-cancels-chat         IN-012       interrupt_inbound cancels every turn in its chat, other users' sessions too
//	bearer-to-connector-paths      HTTP-022     downloads carry the bearer to any path on the connector's origin
//	expired-counts-as-strike       RC-013       a 4401 "expired" after a handshake is a first strike; a second 4401 is terminal
//	hellos-sorted                  HS-003       hellos go out in alphabetical platform order, not the configured order
//	dedupe-without-message-id      IN-010       an event without a message id is deduplicated on <platform>:<chat_id>:
//	discord-scope-in-session-key   SKEY-001     Discord session keys include scope_id
//	null-reply-to-omitted          OUT-004      send and send_media leave a null reply_to out
package main
