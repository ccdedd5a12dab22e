// Package adapter makes a relay client behave like a well-mannered gateway:
// it reads the capability descriptor each platform negotiated and shapes
// every outbound action to fit it, the way the reference gateway's relay
// adapter does. Without it a gateway built on package client sends what a
// platform rejects.
//
// The entry point is New, which returns a Gateway. A Gateway is a
// client.Handler and a client.Admitter: give it to client.Options.Handler
// (or client.Boot) and every inbound message becomes a Turn passed to your
// TurnFunc:
//
//	gw := adapter.New(func(ctx context.Context, t *adapter.Turn) error {
//		_, err := t.Reply(ctx, "you said: "+t.Event.Text)
//		return err
//	}, adapter.Options{})
//	c, _, err := client.Boot(ctx, client.Options{Getenv: os.Getenv, Handler: gw})
//
// By default, and driven by the descriptor of the message's platform:
//
//   - replies longer than max_message_length are split (Split), counted in
//     len_unit, never inside a grapheme cluster, preferring paragraph, line
//     and word breaks, with code fences kept balanced and "(i/N)"
//     indicators;
//   - Turn.Stream streams with drafts where supports_draft_streaming and
//     draft are advertised, else by editing where supports_edit is set,
//     else one message per segment, every frame within the limit;
//   - optional ops are used only when advertised; otherwise media goes out
//     as a link, prompts as numbered text, chat info is answered locally,
//     and reactions, deletes and thread ops are skipped (ErrSkipped);
//   - scope_id, user_id and profile learned from the chat's last inbound
//     event are stamped on every action for that chat, and format_hints
//     where supports_block_formatting allows (Options.FormatHints);
//   - prompts get ids "<nonce>.<8 hex>" and a 64-byte callback budget;
//     presses resolve this process's prompts, other processes' presses are
//     swallowed, and presses on expired prompts get a short notice;
//   - 👀 marks a message while its turn runs and becomes ✅ or ❌ after,
//     where react is advertised; failures of these never fail the turn;
//   - typing heartbeats run while a turn runs;
//   - turns run in the client's inbound pipeline: a message is admitted
//     (and acked) as it arrives, its turn runs after the earlier turns of
//     its session key, and sessions run concurrently;
//   - an interrupt cancels exactly the turn of its session key, whose
//     context ends with cause client.ErrInterrupted (client.ErrClosed when
//     the Gateway or the client closes);
//   - an egress decline (code egress_declined) is final: the content is
//     never retried through another op.
//
// Gateway.Chat gives the same surface for messages sent outside a turn.
//
// # Deviations
//
// The adapter can break one rule per deviation on purpose (count code
// points where utf16 is advertised, ignore supported_ops, edit without
// supports_edit, skip metadata stamping, answer other processes' prompts),
// so a gateway conformance suite can prove its checks catch those bugs.
// They are for this module's self-check only and have no switch in
// Options; the echo gateway takes their names from RELAYKIT_DEVIATIONS,
// and docs/gateway-adapter.md lists them with the cases they fail.
package adapter
