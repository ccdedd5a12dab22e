package contract

import "time"

// Version is the contract version this package implements. Changes to the
// contract are additive, so a peer announcing a higher version is still
// understood.
const Version = 1

const (
	// MaxFrameSize is the largest frame, in bytes without its trailing
	// newline, that both sides must accept (TRN-007) and may send
	// (TRN-018): one byte less than MaxMessageSize, so the frame and its
	// newline fit the reference gateway's message cap.
	MaxFrameSize = MaxMessageSize - 1

	// MaxMessageSize is the largest WebSocket message a sender writes
	// (TRN-018): the reference gateway's WebSocket library closes 1009 on
	// a bigger one, newline included.
	MaxMessageSize = 1 << 20

	// MediaMaxBytes is the largest media upload a connector accepts.
	MediaMaxBytes = 26_214_400

	// DefaultMaxMessageLength replaces a descriptor's max_message_length
	// when it is absent, zero or negative.
	DefaultMaxMessageLength = 4096

	// DefaultTokenTTL is the lifetime of an upgrade token minted by a gateway.
	DefaultTokenTTL = 300 * time.Second

	// DeliverySkew is the largest clock difference the legacy delivery
	// signature tolerates.
	DeliverySkew = 300 * time.Second

	// DefaultOutboundTimeout is how long a gateway waits for an
	// outbound_result before it reports the call as ambiguous.
	DefaultOutboundTimeout = 30 * time.Second

	// DefaultHandshakeTimeout is how long a gateway waits for the first
	// descriptor after it sent its hellos.
	DefaultHandshakeTimeout = 30 * time.Second

	// DefaultPingInterval and DefaultPingTimeout are the keepalive timers
	// both sides use (TRN-011).
	DefaultPingInterval = 30 * time.Second
	DefaultPingTimeout  = 60 * time.Second

	// StableConnection is how long a connection must stay up after its first
	// descriptor before the gateway resets its backoff counter.
	StableConnection = 60 * time.Second

	// BackoffBase and BackoffCap bound the gateway's reconnect ladder.
	BackoffBase = time.Second
	BackoffCap  = 30 * time.Second
)
