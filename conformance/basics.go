package conformance

// The basics: what the preflight cases of each side establish and other
// cases rely on (S.rely); when a basic does not pass, a case relying on it
// is blocked by it.

// Basics of the connector suite.
const (
	// basicHandshake: a valid token's upgrade is accepted and each hello
	// of a fronted platform is answered with one descriptor of that
	// platform, in hello order.
	basicHandshake = "handshake"
	// basicSend: a send to the configured chat is answered with a
	// successful outbound_result.
	basicSend = "send"
	// basicInject: a message injected through the testee control API
	// arrives live as an inbound frame.
	basicInject = "inject"
)

// Basics of the gateway suite.
const (
	// basicStart: the gateway starts, dials and sends its hellos.
	basicStart = "start"
	// basicEcho: the gateway answers a text message with a send to its
	// chat (the echo profile it declared).
	basicEcho = "echo"
)
