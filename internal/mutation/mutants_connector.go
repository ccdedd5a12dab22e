package main

// connectorMutants break relaysim (simulator/), each one MUST of the
// connector side. The first group covers the areas where an outside
// review's mutants survived (issue 10); the rest are the basics.
var connectorMutants = []Mutant{
	// --- interrupt routing and session keys (IN-011, SKEY-003) ---
	{
		ID: "sim-intr-own-instance", Side: Connector, File: "simulator/inbound.go", Requirement: "IN-011",
		Old:         "d := s.pushInterrupt(s.instance(o.instance), o.platform, f.SessionKey, o.chatID)",
		New:         "d := s.pushInterrupt(sess.inst, o.platform, f.SessionKey, o.chatID)",
		Description: "A gateway's interrupt is pushed back down the sender's own instance instead of the instance that owns the session key; with one gateway per tenant nothing changes, but when another instance of the tenant owns the conversation that instance never hears of the interrupt.",
		Probe:       "interrupt-other-instance",
		Kill:        "IN-011 across instances: two gateways of one tenant, each its own instance; the connector delivers a DM to B; A sends interrupt with that conversation's key; B must get interrupt_inbound with the key and chat_id, A nothing.",
	},
	{
		ID: "sim-intr-same-gateway-only", Side: Connector, File: "simulator/inbound.go", Requirement: "IN-011",
		Old:         "if o, ok := s.owner(f.SessionKey); ok && o.tenant == sess.gw.Tenant {",
		New:         "if o, ok := s.owner(f.SessionKey); ok && o.gatewayID == sess.gw.GatewayID {",
		Description: "Interrupts are routed only when the sending gateway itself owns the session key (the tenant check tightened to the gateway id), so an interrupt for a conversation another gateway of the same tenant owns is dropped.",
		Probe:       "interrupt-other-instance",
		Kill:        "The same case as sim-intr-own-instance: an interrupt sent by one gateway for a conversation another gateway of the tenant owns reaches the owner.",
	},
	{
		ID: "sim-learn-zero-key-options", Side: Connector, File: "simulator/inbound.go", Requirement: "SKEY-003",
		Old:         "key := contract.SessionKey(src, contract.DefaultSessionKeyOptions())",
		New:         "key := contract.SessionKey(src, contract.SessionKeyOptions{})",
		Description: "The connector files delivered conversations under keys computed with the zero-value key options (group_sessions_per_user false) instead of the contract's defaults; DM keys are unchanged, but a group conversation is learned as agent:main:<p>:group:<chat> while the gateway interrupts agent:main:<p>:group:<chat>:<user>, which then resolves to nothing.",
		Probe:       "interrupt-group",
		Kill:        "IN-011/SKEY-003 in a group chat: deliver messages of two users in one group chat, then interrupt each user's session key (contract defaults, user included): each comes back as interrupt_inbound.",
	},
	{
		ID: "sim-learn-cache-by-chat", Side: Connector, File: "simulator/inbound.go", Requirement: "SKEY-003",
		Old:         "if last, ok := s.lastLearned[gw.GatewayID]; ok && last == src {",
		New:         "if last, ok := s.lastLearned[gw.GatewayID]; ok && last.Platform == src.Platform && last.ChatID == src.ChatID {",
		Description: "The learn-once cache compares only platform and chat, so a second user writing in the same group chat right after the first is never learned; the gateway's interrupt for that user's session key (which contains the user) resolves to no owner and is dropped.",
		Probe:       "interrupt-group",
		Kill:        "The same group case: the second user's message right after the first's, then the interrupt of the second user's key.",
	},

	// --- drain, acks and buffering (IDLE-*) ---
	{
		ID: "sim-ack-removes-head", Side: Connector, File: "simulator/buffer.go", Requirement: "IDLE-010",
		Old:         "e := in.removeAtLocked(i)",
		New:         "e := in.removeAtLocked(0)",
		Description: "An ack releases the oldest buffer entry instead of the one it names (the buffer treated as a queue). Acks in replay order are unaffected; an out-of-order ack (allowed with the window of IDLE-011) drops an entry that was never acked, which is then never redelivered, and leaves the acked one to be delivered again.",
		Probe:       "drain-out-of-order-ack",
		Kill:        "IDLE-010 with an out-of-order ack: three entries replayed, only the second acked, reconnect: exactly the first and the third are replayed.",
	},
	{
		ID: "sim-drain-any-platform", Side: Connector, File: "simulator/drain.go", Requirement: "IN-007",
		Old:         "if e.sentOn == nil && d.sess.frontsLocked(e.Platform) {",
		New:         "if e.sentOn == nil {",
		Description: "The drain replays every buffered entry on the new socket whatever its platform, so with a backlog over several platforms a socket that helloed only one of them receives events of a platform it got no descriptor for.",
		Probe:       "drain-other-platform",
		Kill:        "IN-007 with a backlog over two platforms: buffer one event each for telegram and discord, reconnect helloing only discord: the telegram entry must not come.",
	},
	{
		ID: "sim-live-any-socket", Side: Connector, File: "simulator/instance.go", Requirement: "IN-007",
		Old:         "if sess.frontsLocked(platform) {",
		New:         "if len(sess.platforms) > 0 {",
		Description: "Live delivery picks the newest handshaked socket of the instance without checking it answered a hello for the event's platform, so an event of a platform the gateway is provisioned for but did not hello on this socket is delivered on it.",
		Probe:       "live-unhelloed-platform",
		Kill:        "IN-007 live: a gateway provisioned for two platforms helloes only one; an event of the other platform must not arrive on that socket.",
	},
	{
		ID: "sim-live-during-drain", Side: Connector, File: "simulator/buffer.go", Requirement: "IDLE-012",
		Old:         "if !in.flipped && (noDrain || (in.drain == nil && in.pending[platform] == 0)) {",
		New:         "if !in.flipped && (noDrain || in.pending[platform] == 0) {",
		Description: "Live delivery only checks that nothing of the event's platform is buffered, not that a drain is still waiting for acks: once the entries of one platform are acked (or none were buffered for it) a new event goes out live while replayed entries of another platform are still unacked.",
		Probe:       "live-while-drain-unacked",
		Kill:        "IDLE-012 across platforms: the drain sends a buffered telegram entry; leave it unacked and inject a discord event: it must not arrive without a bufferId before the telegram entry is acked.",
	},
	{
		ID: "sim-replay-forward-as-inbound", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-009",
		Old:         "if err := d.sess.writeDelivery(e.FrameType, e.Payload, e.BufferID, e.Platform, enqueueWait); err != nil {",
		New:         "if err := d.sess.writeDelivery(contract.TypeInbound, e.Payload, e.BufferID, e.Platform, enqueueWait); err != nil {",
		Description: "Every replayed buffer entry is written as an inbound frame, so a buffered passthrough_forward comes back as {\"type\":\"inbound\",\"event\":<the forward>} instead of in its original frame type.",
		Probe:       "buffered-forward-type",
		Kill:        "IDLE-009 for forwards: inject a passthrough_forward while the gateway is away; the next connection replays it as a passthrough_forward with a bufferId.",
	},
	{
		ID: "sim-forward-not-buffered", Side: Connector, File: "simulator/inbound.go", Requirement: "IDLE-007",
		Old: "return s.deliver(s.instance(gw.InstanceID), &gw, contract.TypePassthroughForward, platform, fw, nil)",
		New: "in := s.instance(gw.InstanceID)\n" +
			"\tin.mu.Lock()\n" +
			"\tlive := in.liveSessionLocked(platform) != nil && !in.flipped && in.drain == nil\n" +
			"\tin.mu.Unlock()\n" +
			"\tif !live {\n" +
			"\t\t// Platform interactions expire within seconds: not worth buffering.\n" +
			"\t\treturn Delivery{Mode: DeliveryDropped, Reason: \"no live socket for the forward\"}, nil\n" +
			"\t}\n" +
			"\treturn s.deliver(in, &gw, contract.TypePassthroughForward, platform, fw, nil)",
		Description: "Passthrough forwards are only ever delivered live; while the instance is flipped, draining or away they are dropped instead of appended to the buffer like inbound events.",
		Probe:       "buffered-forward-type",
		Kill:        "IDLE-007 for forwards: a passthrough_forward injected while the gateway is away (or flipped) is buffered, not dropped, and replayed on the next connection.",
	},
	{
		ID: "sim-second-going-idle-unanswered", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-004",
		Old: "func (s *Server) goingIdle(sess *session) {\n\tin := sess.inst\n\tin.mu.Lock()\n\tdefer in.mu.Unlock()",
		New: "func (s *Server) goingIdle(sess *session) {\n\tin := sess.inst\n\tin.mu.Lock()\n\tdefer in.mu.Unlock()\n" +
			"\tif in.flipped && in.drain == nil {\n\t\treturn // already idle: nothing to flip, nothing to answer\n\t}",
		Description: "A going_idle that arrives while the instance is already flipped (a second one on the same connection, a retry after a lost ack) gets no going_idle_ack, so the gateway waits out its timeout.",
		Probe:       "second-going-idle",
		Kill:        "IDLE-004: send going_idle twice on one connection; each gets its going_idle_ack.",
	},
	{
		ID: "sim-ack-unknown-closes", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-017",
		Old: "BufferID: bufferID, Detail: why})\n\t\treturn",
		New: "BufferID: bufferID, Detail: why})\n" +
			"\t\tif why != \"duplicate ack\" {\n\t\t\tsess.closeAsync(contract.ClosePolicyViolation, \"unknown bufferId\")\n\t\t}\n\t\treturn",
		Description: "An ack whose bufferId is unknown or another instance's (not a duplicate) closes the socket 1008 instead of being a no-op.",
	},
	{
		ID: "sim-flip-cleared-on-disconnect", Side: Connector, File: "simulator/relay.go", Requirement: "IDLE-008",
		Old: "in.removeSessionLocked(sess)\n\tif in.drain != nil && in.drain.sess == sess {",
		New: "in.removeSessionLocked(sess)\n\tif len(in.sessions) == 0 && in.flipped {\n\t\ts.setFlipLocked(in, sess, false, \"last socket closed\")\n\t}\n" +
			"\tif in.drain != nil && in.drain.sess == sess {",
		Description: "The flip is cleared when the instance's last socket closes, so it does not survive the gateway going away after going_idle; events are still buffered (no socket), but the flipped-instance wake of WAKE-002 never fires and the reconnect replays nothing flip-related.",
	},
	{
		ID: "sim-drain-newest-first", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-009",
		Old:         "for _, e := range in.buffer {\n\t\t\t\tif room <= 0 {",
		New:         "for i := len(in.buffer) - 1; i >= 0; i-- {\n\t\t\t\te := in.buffer[i]\n\t\t\t\tif room <= 0 {",
		Description: "The drain replays the buffer newest first instead of oldest first.",
	},
	{
		ID: "sim-buffer-id-per-delivery", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-009",
		Old:         "if err := d.sess.writeDelivery(e.FrameType, e.Payload, e.BufferID, e.Platform, enqueueWait); err != nil {",
		New:         "if err := d.sess.writeDelivery(e.FrameType, e.Payload, fmt.Sprintf(\"%s.%d\", e.BufferID, e.Deliveries), e.Platform, enqueueWait); err != nil {",
		Description: "Each replay gets a per-delivery bufferId (<id>.<attempt>), so a redelivered entry carries a different bufferId than before, and acks, naming an id the buffer does not know, never release anything.",
	},
	{
		ID: "sim-unacked-not-redelivered", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-010",
		Old:         "if e.sentOn == d {\n\t\t\te.sentOn = nil\n\t\t}",
		New:         "_ = e // what was sent stays marked as sent",
		Description: "When a drain stops (the socket closed) its unacked entries stay marked as sent, so the next connection's drain skips them: an entry not acked before the connection ended is never redelivered.",
	},
	{
		ID: "sim-drain-done-when-sent", Side: Connector, File: "simulator/drain.go", Requirement: "IDLE-012",
		Old:         "if d.inflight == 0 {",
		New:         "if d.sent > 0 || d.inflight == 0 {",
		Description: "The drain counts as complete once everything was sent rather than acked: the flip clears and live delivery resumes while replayed entries are still unacked.",
	},

	// --- going idle and wake (WAKE-*) ---
	{
		ID: "sim-wake-signed", Side: Connector, File: "simulator/wake.go", Requirement: "WAKE-002",
		Old:         "req.Header.Set(\"User-Agent\", \"relaysim/1 (wake)\")",
		New:         "req.Header.Set(\"User-Agent\", \"relaysim/1 (wake)\")\n\t\treq.Header.Set(\"X-Relay-Signature\", \"sha256=\"+tokenHash(gatewayID+\":\"+instance))",
		Description: "The wake request carries a signature header derived from the gateway id, which WAKE-002 forbids (no credentials, no signature).",
		Probe:       "wake-bare",
		Kill:        "WAKE-002, stricter: besides no Authorization and no body, the wake request carries no other credential or signature header (flag any header beyond the standard ones a plain GET needs).",
	},
	{
		ID: "sim-wake-no-cooldown", Side: Connector, File: "simulator/wake.go", Requirement: "WAKE-003",
		Old:         "in.woke, in.lastWake = true, now",
		New:         "in.lastWake = now",
		Description: "The cooldown flag is never set, so every event buffered for a flipped instance sends another wake request instead of at most one per 30 s.",
		Probe:       "wake-cooldown",
	},

	// --- policy (HTTP-014..016) ---
	{
		ID: "sim-policy-merge-scopes", Side: Connector, File: "simulator/http_policy.go", Requirement: "HTTP-014",
		Old: "\tin.policies[req.Platform] = req\n\treturn nil",
		New: "\tif old, ok := in.policies[req.Platform]; ok {\n" +
			"\t\treq.FreeResponseScopes = append(old.FreeResponseScopes, req.FreeResponseScopes...)\n\t}\n" +
			"\tin.policies[req.Platform] = req\n\treturn nil",
		Description: "A new policy declaration adds its freeResponseScopes to the previous ones instead of replacing the whole policy, so a scope the gateway removed still lets unaddressed events through.",
		Probe:       "policy-replaced",
		Kill:        "HTTP-014 replacement: declare requireAddress with freeResponseScopes [A], then with [B]; an unaddressed event in chat A is filtered.",
	},
	{
		ID: "sim-bot-dm-filtered", Side: Connector, File: "simulator/inbound.go", Requirement: "HTTP-016",
		Old:         "if src.ChatType == \"dm\" {\n\t\treturn \"\"\n\t}\n\tif src.IsBot && !pol.AllowOtherBots {\n\t\treturn \"event from a bot and the policy has allowOtherBots false\"\n\t}",
		New:         "if src.IsBot && !pol.AllowOtherBots {\n\t\treturn \"event from a bot and the policy has allowOtherBots false\"\n\t}\n\tif src.ChatType == \"dm\" {\n\t\treturn \"\"\n\t}",
		Description: "The bot check runs before the DM exemption, so a DM from a bot is filtered although a DM always passes the relevance gate.",
		Probe:       "bot-dm",
		Kill:        "HTTP-016: a DM whose source.is_bot is true is delivered under the default policy (and under allowOtherBots false).",
	},
	{
		ID: "sim-default-requires-address", Side: Connector, File: "simulator/inbound.go", Requirement: "HTTP-015",
		Old:         "if pol.RequireAddress && !addressed {",
		New:         "if (pol.RequireAddress || pol.Platform == \"\") && !addressed {",
		Description: "A platform that never declared a policy is treated as requireAddress:true (fail closed) instead of the all-default policy, so unaddressed group events are filtered.",
	},
	{
		ID: "sim-scope-id-not-free", Side: Connector, File: "simulator/inbound.go", Requirement: "HTTP-016",
		Old:         "if scope != \"\" && (scope == src.ChatID || scope == src.ScopeID) {",
		New:         "if scope != \"\" && scope == src.ChatID {",
		Description: "freeResponseScopes is matched against chat_id only, so an unaddressed event whose scope_id (a guild or workspace) is a free-response scope is filtered.",
		Probe:       "policy-scope-id",
		Kill:        "HTTP-016 with scope_id: requireAddress and freeResponseScopes [a guild id]; an unaddressed event in another chat of that guild (its scope_id) is delivered.",
	},
	{
		ID: "sim-policy-204", Side: Connector, File: "simulator/http_policy.go", Requirement: "HTTP-014",
		Old:         "writeJSON(w, http.StatusOK, contract.PolicyResponse{OK: true})",
		New:         "w.WriteHeader(http.StatusNoContent)",
		Description: "An accepted policy is answered 204 with no body instead of 200 {\"ok\":true}.",
	},

	// --- provision and enroll (HTTP-012, HTTP-013) ---
	{
		ID: "sim-provision-other-tenant", Side: Connector, File: "simulator/http_provision.go", Requirement: "HTTP-012",
		Old:         "if old.Tenant != tenant {\n\t\t\treturn g, &RequestError{Status: http.StatusConflict, Field: \"gatewayId\", Message: fmt.Sprintf(\"gateway %q belongs to another tenant\", req.GatewayID)}\n\t\t}\n\t\tg = old.clone()\n\t\tif !g.fronts(req.Platform) {",
		New:         "g = old.clone()\n\t\tif !g.fronts(req.Platform) {",
		Description: "Provision no longer checks the tenant of an existing gateway id: another tenant's identity bearer provisioning that id gets 200 with that gateway's secret instead of 409.",
		Probe:       "provision-other-tenant",
		Kill:        "HTTP-012 across tenants: provision gateway id X with tenant A's identity bearer, then with tenant B's: 409 and no secret (needs a second identity bearer in the testee contract).",
	},
	{
		ID: "sim-reprovision-new-secret", Side: Connector, File: "simulator/http_provision.go", Requirement: "HTTP-012",
		Old:         "g = old.clone()\n\t\tif !g.fronts(req.Platform) {",
		New:         "g = old.clone()\n\t\tg.Secrets = []string{mintSecret()}\n\t\tif !g.fronts(req.Platform) {",
		Description: "Provisioning an existing gateway id again (another platform) mints a new secret instead of returning the same one, silently invalidating the secret the first call returned.",
		Probe:       "reprovision-same-secret",
	},
	{
		ID: "sim-identity-refused-403", Side: Connector, File: "simulator/auth.go", Requirement: "HTTP-012",
		Old:         "s.httpError(w, r, http.StatusUnauthorized, \"identity bearer missing or not accepted\")",
		New:         "s.httpError(w, r, http.StatusForbidden, \"identity bearer missing or not accepted\")",
		Description: "A missing or refused identity bearer on provision and enroll is answered 403 instead of 401.",
	},
	{
		ID: "sim-enroll-reusable", Side: Connector, File: "simulator/http_provision.go", Requirement: "HTTP-013",
		Old:         "case tok.Used:\n\t\treturn GatewayRecord{}, forbidden(\"enrollment token already used\")\n\t",
		New:         "",
		Description: "A used enrollment token is not refused: it works again and again instead of once.",
	},
	{
		ID: "sim-enroll-any-tenant", Side: Connector, File: "simulator/http_provision.go", Requirement: "HTTP-013",
		Old:         "case tok.Tenant != tenant:\n\t\treturn GatewayRecord{}, forbidden(\"enrollment token belongs to another tenant\")\n\t",
		New:         "",
		Description: "An enrollment token of another tenant is redeemed instead of answered 403.",
		Probe:       "enroll-other-tenant",
		Kill:        "HTTP-013 across tenants: redeem an enrollment token issued for another tenant: 403 (needs the testee contract to issue a token for a second tenant).",
	},

	// --- tokens and the upgrade (AUTH-*, RC-002, RC-003) ---
	{
		ID: "sim-expiry-leeway", Side: Connector, File: "simulator/auth.go", Requirement: "AUTH-006",
		Old:         "contract.VerifyToken(token, g.Secrets, s.clk.Now())",
		New:         "contract.VerifyToken(token, g.Secrets, s.clk.Now().Add(-1e9))",
		Description: "Tokens are verified against a clock one second behind (a skew allowance), so a token one second past its exp is still accepted.",
	},
	{
		ID: "sim-no-rotation-window", Side: Connector, File: "simulator/auth.go", Requirement: "AUTH-005",
		Old:         "contract.VerifyToken(token, g.Secrets, s.clk.Now())",
		New:         "contract.VerifyToken(token, g.Secrets[:1], s.clk.Now())",
		Description: "Only the current secret is tried: during a rotation window tokens signed with the previous secret are refused.",
	},
	{
		ID: "sim-bad-signature-expired", Side: Connector, File: "simulator/auth.go", Requirement: "AUTH-010",
		Old:         "res.reason, res.detail, res.kind = contract.ReasonUnauthorized, \"bad signature\", authBadSignature",
		New:         "res.reason, res.detail, res.kind = contract.ReasonExpired, \"bad signature\", authBadSignature",
		Description: "Every verification failure of a known gateway's token, a bad signature included, closes 4401 with reason expired instead of unauthorized, which gateways never treat as revocation.",
	},
	{
		ID: "sim-replace-closes-4401", Side: Connector, File: "simulator/relay.go", Requirement: "RC-002",
		Old:         "old.closeAsync(contract.CloseConflict, contract.ReasonReplaced)",
		New:         "old.closeAsync(contract.CloseUnauthorized, contract.ReasonReplaced)",
		Description: "Under the replace policy the older socket is closed 4401 instead of 4409 replaced.",
	},
	{
		ID: "sim-flood-closes-4401", Side: Connector, File: "simulator/relay.go", Requirement: "RC-003",
		Old:         "Detail: why + \"; token refused: \" + auth.detail})\n\t\t\tsess.closeNow(contract.CloseTryAgainLater, contract.ReasonThrottled)",
		New:         "Detail: why + \"; token refused: \" + auth.detail})\n\t\t\tsess.closeNow(contract.CloseUnauthorized, contract.ReasonThrottled)",
		Description: "A flood of bad tokens is shed with 4401 instead of the retryable 1013.",
		Kill:        "The flood case accepts any 4401 while counting sheds: it should require reason unauthorized on a 4401 (AUTH-010) and count a 4401 \"throttled\" as a shed with the wrong code (RC-003).",
	},

	// --- handshake (HS-*) ---
	{
		ID: "sim-descriptor-default-platform", Side: Connector, File: "simulator/relay.go", Requirement: "HS-013",
		Old:         "if err := sess.sendBytes(pre.frame, frameMeta{typ: contract.TypeDescriptor}, enqueueForce); err != nil {",
		New:         "if err := sess.sendBytes(s.cfg.presets[sess.platforms[0]].frame, frameMeta{typ: contract.TypeDescriptor}, enqueueForce); err != nil {",
		Description: "Every hello is answered with the descriptor of the connection's first platform, so the second hello's descriptor names the wrong platform.",
	},
	{
		ID: "sim-descriptor-any-served", Side: Connector, File: "simulator/relay.go", Requirement: "HS-014",
		Old:         "fronted := ok && !gw.Revoked && h.Platform != \"\" && gw.fronts(h.Platform) && pre != nil",
		New:         "fronted := ok && !gw.Revoked && h.Platform != \"\" && pre != nil",
		Description: "A hello for any platform the connector serves is answered, even one it does not front for that gateway.",
	},
	{
		ID: "sim-unfronted-close-reason", Side: Connector, File: "simulator/session.go", Requirement: "HS-014",
		Old:         "case saw:\n\t\tsess.closeNow(contract.ClosePolicyViolation, contract.ReasonPlatformNotFronted)",
		New:         "case saw:\n\t\tsess.closeNow(contract.ClosePolicyViolation, contract.ReasonNoHello)",
		Description: "A socket whose hellos name only unfronted platforms is closed 1008 with reason no hello instead of platform not fronted.",
	},

	// --- framing (TRN-*) ---
	{
		ID: "sim-splitter-per-message", Side: Connector, File: "simulator/relay.go", Requirement: "TRN-005",
		Old:         "_, rd, err := sess.conn.Reader(context.Background())\n\t\tif err != nil {\n\t\t\treturn err\n\t\t}",
		New:         "_, rd, err := sess.conn.Reader(context.Background())\n\t\tif err != nil {\n\t\t\treturn err\n\t\t}\n\t\tsplit = contract.LineSplitter{}",
		Description: "The line splitter is reset for every WebSocket message, dropping the unterminated tail of a frame split across messages.",
	},
	{
		ID: "sim-not-object-reason", Side: Connector, File: "simulator/relay.go", Requirement: "TRN-008",
		Old:         "reason = contract.ReasonNotObject",
		New:         "reason = contract.ReasonMalformedFrame",
		Description: "A line that is valid JSON but not an object closes 1007 with reason malformed frame instead of frame is not an object.",
	},
	{
		ID: "sim-oversize-1007", Side: Connector, File: "simulator/relay.go", Requirement: "TRN-009",
		Old:         "sess.closeNow(contract.CloseTooBig, contract.ReasonFrameTooLarge)",
		New:         "sess.closeNow(contract.CloseInvalidPayload, contract.ReasonFrameTooLarge)",
		Description: "A frame over 1 MiB closes with 1007 instead of 1009.",
	},
	{
		ID: "sim-invalid-utf8-accepted", Side: Connector, File: "simulator/relay.go", Requirement: "TRN-016",
		Old:         "if info.InvalidUTF8 {",
		New:         "if false && info.InvalidUTF8 {",
		Description: "The UTF-8 check is gone: a line with invalid UTF-8 is decoded (bad bytes become U+FFFD) instead of closing 1007 as malformed.",
	},
	{
		ID: "sim-reverse-type-closes", Side: Connector, File: "simulator/relay.go", Requirement: "TRN-004",
		Old: "default:\n\t\ts.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: f.FrameType(),",
		New: "default:\n\t\tsess.closeNow(contract.ClosePolicyViolation, \"frame type travels only from connector to gateway\")\n\t\treturn true\n" +
			"\t\ts.note(JournalEntry{Kind: JournalIgnored, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: f.FrameType(),",
		Description: "A frame of a type defined only for the other direction (a descriptor or inbound echoed by the gateway) closes the socket 1008 instead of being ignored as unknown.",
	},
	{
		ID: "sim-result-no-newline", Side: Connector, File: "simulator/outbound.go", Requirement: "TRN-002",
		Old:         "*bp = contract.AppendOutboundResult((*bp)[:0], rec.RequestID, result)",
		New:         "*bp = contract.AppendOutboundResult((*bp)[:0], rec.RequestID, result)\n\t*bp = (*bp)[:len(*bp)-1]",
		Description: "outbound_result frames are written without their trailing newline.",
	},
	{
		ID: "sim-frame-cap-no-envelope", Side: Connector, File: "simulator/inbound.go", Requirement: "TRN-018",
		Old:         "if len(payload)+frameOverhead > contract.MaxFrameSize {",
		New:         "if len(payload) > contract.MaxFrameSize {",
		Description: "The 1 MiB cap is checked on the event alone, not on the frame around it: an event just under 1 MiB is delivered in an inbound frame over 1 MiB.",
		Probe:       "frame-cap",
		Kill:        "TRN-018 at the edge: inject an event of 1 MiB minus a few bytes; the connector either refuses it or delivers it in a frame of at most 1 MiB (the frame-hygiene check then sees it).",
	},
	{
		ID: "sim-pong-inverted", Side: Connector, File: "simulator/relay.go", Requirement: "TRN-020",
		Old:         "return !s.faults.pongsStopped(sess.gw.GatewayID)",
		New:         "return s.faults.pongsStopped(sess.gw.GatewayID)",
		Description: "The stop-pongs fault check is inverted: pings are answered only while the fault is on, i.e. never in normal operation.",
	},
	{
		ID: "sim-live-empty-buffer-id", Side: Connector, File: "simulator/session.go", Requirement: "IN-001",
		Old:         "*bp = appendDelivery((*bp)[:0], frameType, payload, bufferID)",
		New:         "*bp = appendDelivery((*bp)[:0], frameType, payload, bufferID)\n\tif bufferID == \"\" {\n\t\t*bp = append((*bp)[:len(*bp)-2], `,\"bufferId\":\"\"}`+\"\\n\"...)\n\t}",
		Description: "Every inbound and passthrough_forward frame carries bufferId, live ones as \"\", where the member must be absent or a non-empty string.",
	},

	// --- outbound (OUT-*) ---
	{
		ID: "sim-default-platform-last", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-013",
		Old:         "platform = sess.platforms[0]",
		New:         "platform = sess.platforms[len(sess.platforms)-1]",
		Description: "An untagged outbound goes to the platform of the latest descriptor instead of the first.",
	},
	{
		ID: "sim-gate-default-descriptor", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-009",
		Old:         "desc := s.cfg.presets[platform].desc",
		New:         "desc := s.cfg.presets[sess.platforms[0]].desc",
		Description: "Ops are gated on the connection's default descriptor, not the destination's: a tagged action for a platform whose descriptor lacks the op succeeds when the default platform advertises it (and is refused in the opposite case).",
		Probe:       "gate-destination",
		Kill:        "OUT-009 by destination: hello two platforms with different op sets (relaysim's discord and telegram presets differ); an op only the second advertises, tagged for it, succeeds, and an op only the first advertises, tagged for the second, is unsupported_op.",
	},
	{
		ID: "sim-invalid-action-unchecked", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-015",
		Old:         "if v.Requirement == \"OUT-004\" || v.Requirement == \"OUT-003\" {",
		New:         "if v.Requirement == \"OUT-003\" {",
		Description: "Actions missing a required key of their op are not refused as invalid_action: only a missing op is.",
	},
	{
		ID: "sim-mistyped-outbound-unanswered", Side: Connector, File: "simulator/relay.go", Requirement: "OUT-006",
		Old:         "if typ == contract.TypeOutbound {\n\t\t\t\ts.badOutbound(sess, line, info, err)\n\t\t\t} else {",
		New:         "{ // a frame that does not decode cannot be answered",
		Description: "An outbound frame that fails to decode (an action key of the wrong type) is journaled and ignored instead of answered with an outbound_result for its requestId.",
	},
	{
		ID: "sim-edit-no-message-id", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-010",
		Old:         "case contract.OpEdit:\n\t\tr.MessageID = a.MessageID",
		New:         "case contract.OpEdit:\n\t\t// an edit creates no new message",
		Description: "A successful edit result carries no message_id.",
	},
	{
		ID: "sim-draft-seal-new-id", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-021",
		Old:         "h.drafts.put(gw, key, id)",
		New:         "_ = key",
		Description: "Draft message ids are never remembered, so a repeated final draft creates a new message id instead of answering the same one.",
	},
	{
		ID: "sim-thread-id-missing", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-025",
		Old:         "r.ThreadID, r.MessageID = id, id",
		New:         "r.MessageID = id",
		Description: "thread_create answers the new thread's id only as message_id, without thread_id.",
	},
	{
		ID: "sim-rename-skip-fails", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-026",
		Old:         "r.Extra = map[string]json.RawMessage{\"skipped\": json.RawMessage(\"true\")}",
		New:         "r.Success, r.Code, r.Error, r.Extra = false, contract.CodeNotFound, \"thread rename skipped: condition not met\", map[string]json.RawMessage{}",
		Description: "A conditional thread_rename whose condition does not hold is answered success:false not_found instead of success:true.",
		Probe:       "rename-condition",
		Kill:        "OUT-026: a thread_rename with only_if_connector_created for a thread the connector did not create (or a non-matching only_if_current_name) is answered success:true.",
	},
	{
		ID: "sim-chat-info-flat", Side: Connector, File: "simulator/outbound.go", Requirement: "OUT-019",
		Old:         "r.ChatInfo = &info",
		New:         "r.Extra = map[string]json.RawMessage{\"name\": json.RawMessage(strconv.Quote(info.Name)), \"type\": json.RawMessage(strconv.Quote(info.Type))}",
		Description: "get_chat_info answers name and type flat in the result instead of nested in chat_info.",
	},

	// --- inbound and presses (IN-*) ---
	{
		ID: "sim-press-option-label", Side: Connector, File: "simulator/press.go", Requirement: "IN-013",
		Old:         "\"option_id\": req.OptionID",
		New:         "\"option_id\": label",
		Description: "A prompt press is delivered with the option's label as option_id instead of its id.",
	},

	// --- media (HTTP-005, HTTP-018) ---
	{
		ID: "sim-empty-upload-accepted", Side: Connector, File: "simulator/http_media.go", Requirement: "HTTP-018",
		Old:         "if len(data) == 0 {",
		New:         "if len(data) == 0 && r.ContentLength > 0 {",
		Description: "An empty upload is refused only when it announced a length; a plain empty body (Content-Length 0) is stored and answered 200 instead of 400.",
	},
	{
		ID: "sim-media-id-64bit", Side: Connector, File: "simulator/http_media.go", Requirement: "HTTP-005",
		Old:         "id := randomHex(16)",
		New:         "id := randomHex(8)",
		Description: "Media ids carry 64 random bits (16 hex characters) instead of 128 (32).",
	},
}
