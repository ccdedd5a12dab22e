// Package harbor is a foreign connector double: a complete connector of the
// relay contract (docs/relay-connector-contract.md) written apart from
// relaysim, so that the conformance suite can be checked for precision
// against an implementation whose choices and bugs are not relaysim's.
//
// It imports neither simulator/ nor contract/: token verification, framing,
// JSON shapes, the session-key algorithm and the op table are its own. Where
// the contract leaves a choice open, harbor takes it differently from
// relaysim:
//
//   - it fronts two platforms of its own, harbor-sms and harbor-mail, with
//     different descriptors (utf16 on one, explicit supported_ops with
//     optional ops on both);
//   - it keeps an injected event's message_id and mints its own ("hm_…")
//     otherwise; buffer ids look like "hb.<instance tag>.<seq>";
//   - it drains one entry at a time (window 1) and waits for each ack;
//   - a second socket of one instance is allowed by default (RC-002 policy
//     allow); replace and reject are options;
//   - refused tokens are never throttled (HTTP-024 is a MAY);
//   - it accepts non-canonical tokens (padding, uppercase hex, leading
//     zeros in exp), which AUTH-008 permits;
//   - harbor-mail answers sends to a chat it has never seen with not_found,
//     and follow_up for a session it never delivered with not_found;
//   - its testee control API listens on a port of its own (ControlURL), not
//     under a path prefix of the relay port; clock control is not offered.
//
// New starts a server on loopback like httptest. Options.NoControl runs it
// credentials-only, with one enrolled gateway and no control API.
//
// Options.Deviation plants one realistic connector bug at a time; Deviations
// lists them with the requirement each one breaks.
package harbor
