package harness

// The basics: what the preflight cases of each side establish and other
// cases rely on (S.Rely); when a basic does not pass, a case relying on it
// is blocked by it.

// Basics of the connector suite.
const (
	// BasicHandshake: a valid token's upgrade is accepted and each hello
	// of a fronted platform is answered with one descriptor of that
	// platform, in hello order.
	BasicHandshake = "handshake"
	// BasicSend: a send to the configured chat is answered with a
	// successful outbound_result.
	BasicSend = "send"
	// BasicInject: a message injected through the testee control API
	// arrives live as an inbound frame.
	BasicInject = "inject"
)

// Basics of the gateway suite.
const (
	// BasicStart: the gateway starts, dials and sends its hellos.
	BasicStart = "start"
	// BasicEcho: the gateway answers a text message with a send to its
	// chat (the echo profile it declared).
	BasicEcho = "echo"
)
