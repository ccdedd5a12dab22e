package adapter

import (
	"errors"
	"fmt"

	"github.com/relaykit/relaykit/contract"
)

// Errors the adapter reports. Test for them with errors.Is. A turn's
// context ends with the client's causes: client.ErrInterrupted for an
// interrupt of its session, client.ErrClosed when the Gateway or the
// client closes (prompts waiting then return client.ErrClosed too).
var (
	// ErrSkipped: the chat's descriptor does not advertise the op and it
	// has no fallback (reactions, deletes, thread ops), so nothing was
	// sent. Callers usually ignore it.
	ErrSkipped = errors.New("op not advertised by the platform; skipped")

	// ErrDeclined: the connector refused the destination (code
	// egress_declined). The failure is definite, and the adapter never
	// re-sends the content through another op.
	ErrDeclined = errors.New("egress declined")

	// ErrAmbiguous: the frame reached the wire but no result came back, so
	// the action may have been applied. The adapter does not resend it,
	// except a draft seal, which is idempotent and retried once.
	ErrAmbiguous = errors.New("outcome unknown: the action may have been applied")

	// ErrPromptExpired: no option of a prompt was chosen before it
	// expired.
	ErrPromptExpired = errors.New("prompt expired")

	// ErrStreamClosed: Write on a Stream after Close.
	ErrStreamClosed = errors.New("stream closed")
)

// ActionError is a failed outbound action: the op and the result the
// transport returned. errors.Is matches ErrDeclined for an egress decline
// and ErrAmbiguous for an ambiguous result.
type ActionError struct {
	Op     string
	Result contract.Result
}

func (e *ActionError) Error() string {
	msg := e.Result.Error
	if msg == "" {
		msg = "unsuccessful"
	}
	if e.Result.Code != "" {
		msg += " (" + e.Result.Code + ")"
	}
	if e.Result.Ambiguous {
		msg += " (ambiguous)"
	}
	return fmt.Sprintf("failed to %s: %s", e.Op, msg)
}

// Is reports whether the failure is a decline or ambiguous.
func (e *ActionError) Is(target error) bool {
	switch target {
	case ErrDeclined:
		return e.Result.Declined()
	case ErrAmbiguous:
		return e.Result.Ambiguous
	}
	return false
}

// resultErr returns nil for a successful result, else an *ActionError.
func resultErr(op string, r contract.Result) error {
	if r.Success {
		return nil
	}
	return &ActionError{Op: op, Result: r}
}

// declined reports whether r is an egress decline. An ambiguous result is
// never one: it is a transport outcome, whatever its text says.
func declined(r contract.Result) bool { return !r.Success && !r.Ambiguous && r.Declined() }
