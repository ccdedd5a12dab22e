package main

// gatewayMutants break the echo gateway through client/, client/adapter
// and examples/echogateway, each one MUST of the gateway side. The first
// group covers the areas where an outside review's mutants survived
// (issue 10); the rest are the basics.
var gatewayMutants = []Mutant{
	// --- acks of replays and forwards (IDLE-013, IDLE-015) ---
	{
		ID: "gw-replay-of-admitted-not-acked", Side: Gateway, File: "client/inbound.go", Requirement: "IDLE-013",
		Old:         "if old.admitted {\n\t\t\treturn old, true, bufferID != \"\"\n\t\t}",
		New:         "if old.admitted {\n\t\t\treturn old, true, false\n\t\t}",
		Description: "A buffered replay of an event the gateway already admitted is recognised and dropped but never acked, so the connector keeps redelivering it on every connection (a recognised replay counts as admitted and must be acked).",
		Probe:       "ack-replay-of-admitted",
		Kill:        "IDLE-013 replay: buffer an event, let the gateway ack it, take the socket away, buffer the same event (same message_id) again: the replay must be acked too (it counts as admitted).",
	},
	{
		ID: "gw-replay-in-flight-not-acked", Side: Gateway, File: "client/inbound.go", Requirement: "IDLE-013",
		Old:         "if bufferID != \"\" {\n\t\t\told.waiters = append(old.waiters, bufferID)\n\t\t}",
		New:         "",
		Description: "A buffered replay that arrives while the original delivery is still being admitted is dropped without remembering its bufferId, so when the original is admitted only its own bufferId is acked and the replay's entry is redelivered forever.",
		Kill:        "IDLE-013 replay in flight: an event buffered twice (two bufferIds, one message_id) drained with a window of 2, so the replay arrives before the original is admitted: both bufferIds are acked.",
		Probe:       "ack-replay-in-flight",
	},
	{
		ID: "gw-press-forward-not-acked", Side: Gateway, File: "client/adapter/gateway.go", Requirement: "IDLE-015",
		Old:         "g.consumePromptResponse(ctx, d.Client(), ev)\n\t\treturn false, d.Ack()",
		New:         "g.consumePromptResponse(ctx, d.Client(), ev)\n\t\treturn false, nil",
		Description: "A buffered passthrough_forward that presses one of the gateway's prompt buttons (a Discord component interaction) is consumed but never acked; the client never acks forwards by itself, so it replays forever.",
		Probe:       "ack-buffered-press-forward",
		Kill:        "IDLE-015 for a prompt press: buffer a Discord component interaction forward whose custom_id is an hp1: token: it is acked (today's case buffers only a type-1 ping).",
	},
	{
		ID: "gw-ack-unadmitted", Side: Gateway, File: "client/inbound.go", Requirement: "IDLE-014",
		Old:         "slog.Bool(\"buffered\", d.Buffered()), slog.String(\"err\", err.Error()))\n\t\treturn false\n\t}\n\tif err := d.Ack(); err != nil {",
		New:         "slog.Bool(\"buffered\", d.Buffered()), slog.String(\"err\", err.Error()))\n\t}\n\tif err := d.Ack(); err != nil {",
		Description: "A buffered event whose admission failed is acked anyway (the early return after logging is gone), so it is never replayed.",
	},
	{
		ID: "gw-ack-live", Side: Gateway, File: "client/inbound.go", Requirement: "IDLE-016",
		Old:         "if bufferID != \"\" {\n\t\tfirstErr = a.c.sendAck(bufferID)\n\t}",
		New:         "firstErr = a.c.sendAck(bufferID)",
		Description: "Admission acks every delivery, live ones included (with an empty bufferId).",
	},

	// --- request ids and results (OUT-001, OUT-018) ---
	{
		ID: "gw-request-id-from-content", Side: Gateway, File: "client/outbound.go", Requirement: "OUT-001",
		Old: "id := c.nextRequestID()",
		New: "id := func() string {\n" +
			"\t\t// The id names the action, so a retry of the same action reuses it\n" +
			"\t\t// and the connector can deduplicate.\n" +
			"\t\th := uint64(14695981039346656037)\n" +
			"\t\tfor _, b := range []byte(a.Op + \"\\x00\" + a.ChatID + \"\\x00\" + a.MessageID + \"\\x00\" + a.Content) {\n" +
			"\t\t\th = (h ^ uint64(b)) * 1099511628211\n" +
			"\t\t}\n" +
			"\t\tvar b [32]byte\n" +
			"\t\tcopy(b[:16], c.reqPrefix[:])\n" +
			"\t\tfor i := 31; i >= 16; i-- {\n" +
			"\t\t\tb[i] = \"0123456789abcdef\"[h&0xf]\n" +
			"\t\t\th >>= 4\n" +
			"\t\t}\n" +
			"\t\treturn string(b[:])\n" +
			"\t}()",
		Description: "The requestId is a hash of the action (op, chat, message, content) instead of a counter: distinct actions get distinct ids, but two identical actions pending at once (typing heartbeats of two sessions in one chat, the same reply twice) share a requestId, and the first call never gets its result.",
		Probe:       "identical-pending-actions",
		Kill:        "OUT-001 with identical actions pending at once: two users of one group chat make two turns run concurrently; hold the typing results back: their requestIds differ.",
	},
	{
		ID: "gw-settled-result-kept", Side: Gateway, File: "client/conn.go", Requirement: "OUT-018",
		Old:         "if cl != nil {\n\t\tdelete(cn.calls, cl.key)\n\t}",
		New:         "_ = cl // the entry goes when its call returns",
		Description: "A result does not remove its call from the pending table, so a second result for an already settled requestId is not ignored: it resolves the pooled call object, which by then serves another request, or leaves a stale result in it that the next call using it receives instead of its own.",
		Kill:        "OUT-018 with a settled id that then fails: after a call settles, resend its result as success:false and hold back the next call's result: the echo must not act on the stale result (no reaction or further action before the held result is written).",
	},

	// --- shaping and gating by the destination's descriptor (HS-022, HS-012, HS-024) ---
	{
		ID: "gw-chat-default-descriptor", Side: Gateway, File: "client/adapter/chat.go", Requirement: "HS-022",
		Old:         "func (c *Chat) Descriptor() contract.CapabilityDescriptor { return c.tr.Descriptor(c.platform) }",
		New:         "func (c *Chat) Descriptor() contract.CapabilityDescriptor { return c.tr.Descriptor(\"\") }",
		Description: "The adapter gates and shapes every chat by the connection's default descriptor instead of its platform's: toward a second platform with another length limit, length unit or op set, replies are split and ops chosen by the wrong descriptor. Every case gives all platforms the same descriptor, so only a multi-platform case with different descriptors can see it.",
		Probe:       "shape-by-destination",
		Kill:        "HS-022/OUT-031 with two platforms and different descriptors: the second platform with max_message_length 64 and no typing or react: a long echo toward it is split to 64 and no unadvertised op goes to it.",
	},
	{
		ID: "gw-gate-default-descriptor", Side: Gateway, File: "client/outbound.go", Requirement: "HS-022",
		Old:         "d, _ := cn.descs.Load().lookup(platform)",
		New:         "d, _ := cn.descs.Load().lookup(\"\")",
		Description: "The client gates a tagged action on the connection's default descriptor instead of the destination platform's, so an op the default advertises goes to a platform that does not (the echo's own typing shows it).",
		Probe:       "shape-by-destination",
		Kill:        "The same two-platform case: the echo's typing toward a platform whose descriptor lacks typing (the default platform's has it) must not be sent.",
	},
	{
		ID: "gw-typing-ungated", Side: Gateway, File: "client/outbound.go", Requirement: "HS-012",
		Old:         "if !d.SupportsOp(a.Op) && !c.dev.Has(deviation.ClientUnsupportedOpSent) {",
		New:         "if !d.SupportsOp(a.Op) && a.Op != contract.OpTyping && !c.dev.Has(deviation.ClientUnsupportedOpSent) {",
		Description: "typing is sent whatever supported_ops says (\"it is harmless\").",
	},
	{
		ID: "gw-draft-without-streaming", Side: Gateway, File: "client/adapter/chat.go", Requirement: "HS-022",
		Old:         "return advertised && d.SupportsDraftStreaming",
		New:         "return advertised",
		Description: "draft is sent wherever it is advertised, even toward a descriptor with supports_draft_streaming false.",
		Probe:       "draft-needs-streaming",
		Kill:        "HS-022: a descriptor that lists draft with supports_draft_streaming false; /stream must not send draft.",
	},
	{
		ID: "gw-stream-edits-legacy", Side: Gateway, File: "client/adapter/stream.go", Requirement: "HS-024",
		Old:         "case c.supports(d, contract.OpEdit):\n\t\ts.mode = StreamEdit",
		New:         "case d.SupportsOp(contract.OpEdit):\n\t\ts.mode = StreamEdit",
		Description: "A stream picks edit mode whenever edit is in supported_ops (it always is, through the legacy set), ignoring supports_edit.",
	},

	// --- splitting (OUT-031) ---
	{
		ID: "gw-split-reopen-uncounted", Side: Gateway, File: "client/adapter/split.go", Requirement: "OUT-031",
		Old:         "room := lim - reserve - s.measure(prefix)",
		New:         "room := lim - reserve",
		Description: "The fence that reopens a code block at the start of a chunk is not counted against the limit: a chunk that continues a code block is over max_message_length by the length of \"```<lang>\\n\".",
		Probe:       "split-limit",
		Kill:        "OUT-031 with code blocks: an echo whose code block (fence on its own line) spans several chunks toward a 64-character limit; every chunk, reopened fence and indicator included, is at most 64.",
	},
	{
		ID: "gw-split-fence-close-unreserved", Side: Gateway, File: "client/adapter/split.go", Requirement: "OUT-031",
		Old:         "p := s.cut(rest, room-len(fenceClose), st)",
		New:         "p := s.cut(rest, room, st)",
		Description: "No room is kept for the closing fence: a chunk cut inside a code block is over the limit by the four characters of \"\\n```\".",
		Probe:       "split-limit",
		Kill:        "The same code-block case: chunks cut inside the block carry the closing fence within the limit.",
	},
	{
		ID: "gw-fits-off-by-one", Side: Gateway, File: "client/adapter/split.go", Requirement: "OUT-031",
		Old:         "n -= runeUnits(r, u16)\n\t\tif n < 0 {",
		New:         "n -= runeUnits(r, u16)\n\t\tif n < -1 {",
		Description: "The fit test is off by one: content one unit over the limit counts as fitting and is sent whole.",
		Probe:       "split-limit",
		Kill:        "OUT-031 at the boundary: an echo exactly one unit over the limit must be split.",
	},
	{
		ID: "gw-indicator-unreserved", Side: Gateway, File: "client/adapter/split.go", Requirement: "OUT-031",
		Old:         "chunks := s.decorated(content, lim, 4+2*d)",
		New:         "chunks := s.decorated(content, lim, 3+2*d)",
		Description: "The room kept for the \" (i/N)\" indicator is one short. Outside code blocks the four characters kept for a closing fence absorb it; a chunk cut inside a code block, whose cut fills its budget (a long line), is one unit over the limit.",
		Probe:       "split-limit",
		Kill:        "OUT-031 with a code block holding a long unbroken line: the chunks cut inside it, indicator included, stay within the limit.",
	},

	// --- interrupts and session keys (IN-012, SKEY-001) ---
	{
		ID: "gw-interrupt-by-chat", Side: Gateway, File: "client/inbound.go", Requirement: "IN-012",
		Old: "c.inq.interrupt(f.SessionKey)",
		New: "// Stop every handler running in the chat the connector named.\n" +
			"\tc.inq.mu.Lock()\n" +
			"\tfor key, l := range c.inq.lanes {\n" +
			"\t\tinChat := false\n" +
			"\t\tfor i, seg := 0, \":\"+f.ChatID+\":\"; i+len(seg) <= len(key)+1; i++ {\n" +
			"\t\t\tinChat = inChat || (key + \":\")[i:i+len(seg)] == seg\n" +
			"\t\t}\n" +
			"\t\tif l.cancel != nil && (key == f.SessionKey || inChat) {\n" +
			"\t\t\tl.cancel(ErrInterrupted)\n\t\t}\n\t}\n" +
			"\tc.inq.mu.Unlock()",
		Description: "interrupt_inbound cancels every running handler of the named chat, not just the named session: in a DM that is the same thing, but in a group (one session per user) one user's interrupt cancels another user's turn.",
		Probe:       "interrupt-group-one-user",
		Kill:        "IN-012 in a group: two users of one group chat run /slow turns; interrupt one user's session: the other user's turn still replies.",
	},
	{
		ID: "gw-session-keys-zero-options", Side: Gateway, File: "client/options.go", Requirement: "SKEY-001",
		Old:         "s.sessKeys = contract.DefaultSessionKeyOptions()",
		New:         "s.sessKeys = contract.SessionKeyOptions{}",
		Description: "The client's default session-key options are the zero value (group_sessions_per_user false) instead of the contract's defaults: DM keys are right, but all users of a group share one session and its key lacks the user.",
		Probe:       "interrupt-key-group",
		Kill:        "SKEY-001 in a group: /interrupt from a user in a group chat carries agent:main:<p>:group:<chat>:<user> (today's case uses a DM only).",
	},
	{
		ID: "gw-echo-interrupt-own-key", Side: Gateway, File: "examples/echogateway/main.go", Requirement: "SKEY-001",
		Old:         "return c.Interrupt(ctx, t.SessionKey, &reason)",
		New:         "return c.Interrupt(ctx, contract.SessionKey(ev.Source, contract.SessionKeyOptions{}), &reason)",
		Description: "The echo gateway recomputes the session key for /interrupt with zero-value options instead of using the turn's key: right in a DM, without the user in a group.",
		Probe:       "interrupt-key-group",
		Kill:        "The same group /interrupt case.",
	},
	{
		ID: "gw-dedupe-without-chat", Side: Gateway, File: "client/inbound.go", Requirement: "IN-010",
		Old:         "return ev.Source.Platform + \":\" + ev.Source.ChatID + \":\" + mid",
		New:         "return ev.Source.Platform + \":\" + mid",
		Description: "The replay key leaves out the chat: platforms whose message ids are per chat (Telegram) give two different events in two chats the same key, and the second is dropped as a replay.",
		Probe:       "dedupe-per-chat",
		Kill:        "IN-010 per chat: two events of two chats with the same message_id are both handled (platforms such as Telegram number messages per chat).",
	},
	{
		ID: "gw-dedupe-64", Side: Gateway, File: "client/client.go", Requirement: "IN-010",
		Old:         "newDedupe(512)",
		New:         "newDedupe(64)",
		Description: "The replay memory holds the last 64 admitted events instead of at least 512, so a replay of an event admitted 100 events ago is handled again.",
		Probe:       "dedupe-memory",
		Kill:        "IN-010 memory: replay an event after more than 64 (up to 512) later admitted events: it is dropped (no second echo).",
	},
	{
		ID: "gw-foreign-press-as-chat", Side: Gateway, File: "client/adapter/prompt.go", Requirement: "IN-014",
		Old:         "log.Debug(\"relay prompt answer belongs to another gateway process\")\n\t\treturn true",
		New:         "log.Debug(\"relay prompt answer belongs to another gateway process\")\n\t\treturn false",
		Description: "A press on another process's prompt is recognised as foreign but then handed on as a chat message, starting a turn.",
	},

	// --- media (HTTP-019, HTTP-022, OUT-011) ---
	{
		ID: "gw-bearer-any-connector-path", Side: Gateway, File: "client/media.go", Requirement: "HTTP-022",
		Old:         "effectivePort(u) == effectivePort(base) &&\n\t\tstrings.HasPrefix(u.EscapedPath(), contract.PathMedia+\"/\")",
		New:         "effectivePort(u) == effectivePort(base)",
		Description: "The bearer goes with a download from any path of the connector's host and port, not only /relay/media/.",
		Probe:       "download-bearer-path",
	},
	{
		ID: "gw-bearer-any-port", Side: Gateway, File: "client/media.go", Requirement: "HTTP-022",
		Old:         "effectivePort(u) == effectivePort(base) &&\n\t\tstrings.HasPrefix(",
		New:         "strings.HasPrefix(",
		Description: "The bearer goes with a download from /relay/media/ on any port of the connector's host.",
	},
	{
		ID: "gw-upload-no-content-type", Side: Gateway, File: "client/media.go", Requirement: "HTTP-019",
		Old:         "req.Header.Set(\"Content-Type\", contentType)\n\tif name = mediaFilename(name)",
		New:         "if name = mediaFilename(name)",
		Description: "The media upload is sent without a Content-Type header.",
	},
	{
		ID: "gw-media-decline-fallback", Side: Gateway, File: "client/adapter/chat.go", Requirement: "OUT-011",
		Old:         "if declined(r) || r.Ambiguous {",
		New:         "if r.Ambiguous {",
		Description: "A send_media answered with an egress decline falls back to sending its caption and link as a text message, re-sending declined content through another op.",
		Probe:       "media-decline",
		Kill:        "OUT-011 for send_media: decline the send_media of /media; no send carrying its caption or link follows (today's case declines a send only).",
	},
	{
		ID: "gw-prompt-decline-fallback", Side: Gateway, File: "client/adapter/prompt.go", Requirement: "OUT-011",
		Old:         "case declined(r):\n\t\t\treturn withdraw(resultErr(contract.OpPrompt, r))\n",
		New:         "",
		Description: "A prompt answered with an egress decline falls back to the numbered-text prompt, re-sending declined content through send.",
		Probe:       "prompt-decline",
		Kill:        "OUT-011 for prompt: decline the prompt of /prompt; no numbered-text send of its question and options follows.",
	},

	// --- going idle and dormancy (IDLE-019) ---
	{
		ID: "gw-dormant-without-ack", Side: Gateway, File: "client/lifecycle.go", Requirement: "IDLE-019",
		Old:         "ok, err := c.GoIdle(ctx)\n\tif !ok {\n\t\treturn false, err\n\t}",
		New:         "ok, err := c.GoIdle(ctx)\n\tif !ok && !errors.Is(err, ErrGoIdleTimeout) {\n\t\treturn false, err\n\t}",
		Description: "GoDormant suspends (closes 1000 \"dormant\") also when going_idle_ack did not come in time, instead of staying connected.",
	},

	// --- reconnect and 4401 (RC-*) ---
	{
		ID: "gw-http-refusal-revoked", Side: Gateway, File: "client/supervisor.go", Requirement: "RC-008",
		Old: "p := plan{state: StateReconnecting, wait: c.nextBackoff(), err: err}\n\treturn p",
		New: "for m := err.Error(); len(m) >= 8; m = m[1:] {\n" +
			"\t\tif m[:8] == \"HTTP 401\" || m[:8] == \"HTTP 403\" {\n" +
			"\t\t\t// Refused before the socket even opened: the secret is gone.\n" +
			"\t\t\treturn plan{stop: true, terminal: StateRevoked, err: ErrRevoked}\n" +
			"\t\t}\n\t}\n" +
			"\tp := plan{state: StateReconnecting, wait: c.nextBackoff(), err: err}\n\treturn p",
		Description: "An HTTP 401 or 403 answer to the upgrade is read as revocation and stops the gateway, instead of an ordinary dial error retried with backoff.",
	},
	{
		ID: "gw-stable-on-handshake", Side: Gateway, File: "client/supervisor.go", Requirement: "RC-007",
		Old:         "stable := cn.hsDone.Load() && c.clk.Now().Sub(cn.firstDescTime()) >= c.opts.StableWindow",
		New:         "stable := cn.hsDone.Load()",
		Description: "The attempt counter resets after any connection that got a descriptor, however short-lived, so a connector that drops each connection right after the handshake never pushes the backoff up the ladder.",
	},
	{
		ID: "gw-4401-before-handshake-strike", Side: Gateway, File: "client/supervisor.go", Requirement: "RC-010",
		Old:         "case everHS:",
		New:         "default:",
		Description: "A 4401 before any descriptor was received already starts the fresh-token strike, so a second 4401 during a provisioning race stops the gateway as revoked instead of being retried with backoff.",
	},
	{
		ID: "gw-first-strike-backoff", Side: Gateway, File: "client/supervisor.go", Requirement: "RC-011",
		Old:         "return plan{state: StateReconnecting, wait: 0, err: closeErr}",
		New:         "return plan{state: StateReconnecting, wait: c.nextBackoff(), err: closeErr}",
		Description: "The fresh-token re-dial after the first 4401 waits out an ordinary backoff instead of going at once.",
	},
	{
		ID: "gw-fresh-role-dropped-on-dial-error", Side: Gateway, File: "client/supervisor.go", Requirement: "RC-014",
		Old:         "p := plan{state: StateReconnecting, wait: c.nextBackoff(), err: err}",
		New:         "c.mu.Lock()\n\tc.fresh = false // a new dial, a new start\n\tc.mu.Unlock()\n\tp := plan{state: StateReconnecting, wait: c.nextBackoff(), err: err}",
		Description: "A dial error clears the pending fresh-token role, so after a failed fresh-token dial the next 4401 is treated as a first strike again instead of terminal.",
	},
	{
		ID: "gw-close-1001", Side: Gateway, File: "client/lifecycle.go", Requirement: "RC-015",
		Old:         "cn.closeWith(contract.CloseNormal, \"\", whyClient)",
		New:         "cn.closeWith(contract.CloseGoingAway, \"\", whyClient)",
		Description: "The gateway's own disconnect closes the socket with 1001 instead of 1000.",
	},

	// --- boot (HTTP-001, HTTP-008, HTTP-011) ---
	{
		ID: "gw-provision-route-keys-null", Side: Gateway, File: "client/provision.go", Requirement: "HTTP-001",
		Old:         "if routeKeys == nil {\n\t\trouteKeys = []string{}\n\t}",
		New:         "",
		Description: "Without configured route keys the provision body carries \"routeKeys\": null instead of a list.",
	},
	{
		ID: "gw-provision-first-platform-only", Side: Gateway, File: "client/provision.go", Requirement: "HTTP-011",
		Old:         "for _, id := range c.ids {\n\t\tbody := contract.ProvisionRequest{",
		New:         "for _, id := range c.ids[:1] {\n\t\tbody := contract.ProvisionRequest{",
		Description: "Only the first fronted platform is provisioned instead of one request per platform.",
	},
	{
		ID: "gw-redirect-same-host", Side: Gateway, File: "client/provision.go", Requirement: "HTTP-008",
		Old:         "return strings.EqualFold(a.Scheme, b.Scheme) &&\n\t\tstrings.EqualFold(a.Hostname(), b.Hostname()) &&\n\t\teffectivePort(a) == effectivePort(b)",
		New:         "return strings.EqualFold(a.Hostname(), b.Hostname())",
		Description: "A redirect keeps the bearer whenever the host is the same, even to another port or scheme (another origin).",
	},

	// --- transport (TRN-*, HS-003) ---
	{
		ID: "gw-unknown-frame-closes", Side: Gateway, File: "client/conn.go", Requirement: "TRN-004",
		Old:         "default:\n\t\t// Unknown types, and echoes of our own frame types, are ignored\n\t\t// (TRN-004).",
		New:         "default:\n\t\tcn.closeWith(contract.CloseUnsupportedData, \"unknown frame type\", whyProtocol)",
		Description: "A frame of an unknown type closes the connection 1003 instead of being ignored.",
	},
	{
		ID: "gw-splitter-per-message", Side: Gateway, File: "client/conn.go", Requirement: "TRN-005",
		Old:         "msg := buf.Bytes()",
		New:         "msg := buf.Bytes()\n\t\tsplit = contract.LineSplitter{MaxFrameSize: cn.c.opts.MaxFrameSize}",
		Description: "The line splitter is reset for every WebSocket message, dropping the unterminated start of a frame split across messages.",
	},
	{
		ID: "gw-binary-skipped", Side: Gateway, File: "client/conn.go", Requirement: "TRN-016",
		Old:         "if typ == websocket.MessageBinary && !utf8.Valid(msg) {",
		New:         "if typ == websocket.MessageBinary || !utf8.Valid(msg) {",
		Description: "Binary messages are skipped whatever they hold instead of read like text.",
	},
	{
		ID: "gw-read-limit-one-mib", Side: Gateway, File: "client/conn.go", Requirement: "TRN-007",
		Old:         "cn.ws.SetReadLimit(int64(cn.c.opts.MaxFrameSize)*4 + 1)",
		New:         "cn.ws.SetReadLimit(int64(cn.c.opts.MaxFrameSize))",
		Description: "The socket's message limit is exactly 1 MiB, newline included, so a 1 MiB frame (the newline not counted) in its own message closes the connection 1009.",
	},
	{
		ID: "gw-hellos-one-message", Side: Gateway, File: "client/dial.go", Requirement: "TRN-013",
		Old: "for _, ident := range ids {\n" +
			"\t\th := contract.Hello{Platform: ident.Platform, BotID: ident.BotID, CommandManifest: ident.CommandManifest}\n" +
			"\t\tif err := cn.writeFrame(h); err != nil {",
		New: "var batch []byte\n" +
			"\tfor _, ident := range ids {\n" +
			"\t\th := contract.Hello{Platform: ident.Platform, BotID: ident.BotID, CommandManifest: ident.CommandManifest}\n" +
			"\t\tbatch, _ = contract.AppendFrame(batch, h)\n" +
			"\t}\n" +
			"\t// One message for all the hellos: one write, one round trip.\n" +
			"\tfor _, ident := range ids[:1] {\n" +
			"\t\tif _, err := cn.write(batch); err != nil {",
		Description: "All hellos are written as one WebSocket message instead of one message per frame.",
	},
	{
		ID: "gw-hello-awaits-descriptor", Side: Gateway, File: "client/dial.go", Requirement: "HS-003",
		Old: "cn.log.Warn(\"relay hello failed\", slog.String(\"platform\", ident.Platform), slog.String(\"err\", err.Error()))\n\t\t\treturn\n\t\t}",
		New: "cn.log.Warn(\"relay hello failed\", slog.String(\"platform\", ident.Platform), slog.String(\"err\", err.Error()))\n\t\t\treturn\n\t\t}\n" +
			"\t\t// Let the connector answer before the next hello.\n" +
			"\t\tselect {\n\t\tcase <-cn.hs:\n\t\tcase <-cn.done:\n\t\t\treturn\n\t\t}",
		Description: "After its first hello the gateway waits for a descriptor before sending the next hello, instead of sending all hellos at once; a connector that answers hellos only once it has them all (or late) sees one hello only.",
		Probe:       "hellos-without-descriptor",
		Kill:        "HS-003 without answers: a connector double that withholds descriptors; every identity's hello arrives anyway.",
	},
	{
		ID: "gw-internal-metadata-key", Side: Gateway, File: "client/adapter/chat.go", Requirement: "OUT-028",
		Old:         "md[\"thread_id\"] = c.thread",
		New:         "md[\"_thread_id\"] = c.thread",
		Description: "The thread anchor of a threaded conversation goes out under the gateway-internal key _thread_id in metadata.",
		Probe:       "metadata-thread",
		Kill:        "OUT-028 in a thread: an event with source.thread_id; no action the echo sends carries a metadata key starting with \"_\".",
	},
}
