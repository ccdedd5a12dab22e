// Package contract is the Hermes relay connector contract, version 1, as Go
// types and codecs.
//
// The contract has two sides. The gateway (the agent) dials out over one
// WebSocket to the connector (the chat-platform side) at path /relay,
// authenticating with an HMAC bearer token ([MintToken], [VerifyToken]). Both
// sides then exchange newline-delimited JSON frames: the gateway sends
// [Hello], [Outbound], [Interrupt], [GoingIdle] and [InboundAck]; the
// connector answers with [DescriptorFrame], [OutboundResult], [Inbound],
// [InterruptInbound], [GoingIdleAck] and [PassthroughForward].
//
// Frames are encoded with [EncodeFrame] (always ending in a newline) and
// decoded with [DecodeFrame]. A [LineSplitter] turns WebSocket messages into
// frame lines, accepting several frames per message and a frame split across
// messages. [ValidateFrame] and [ValidateBody] report every violation of a
// frame or HTTP body, each naming the field and the requirement it breaks;
// [Requirements] lists every requirement of the contract with its stable ID.
//
// The hot frames also have byte-level paths, so that no other package
// spells out or scans a frame: [DecodeLine] decodes a line in one
// validating pass and reports what a receiver needs besides the frame
// ([LineInfo]: TRN-016's UTF-8 verdict, an outbound's id and raw action and
// whether the action certainly meets OUT-003/OUT-004); [ScanOutboundResult]
// decodes the common result line without allocating for the frame;
// [ScanEvent] checks, compacts and reads an event to deliver; and
// [AppendInbound], [AppendPassthroughForward], [AppendOutboundResult] and
// [AppendDescriptor] write frames around payloads already encoded. Each
// gives what the general codec gives for the same frame, which
// differential tests and fuzz targets check against encoding/json.
//
// The formal text lives in docs/relay-connector-contract.md; language-neutral
// fixtures and JSON Schemas live in the fixtures package.
//
// This package imports nothing else of relaykit and does no I/O beyond
// reading its embedded requirement registry.
package contract // import "github.com/relaykit/relaykit/contract"
