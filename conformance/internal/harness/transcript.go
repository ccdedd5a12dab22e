package harness

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Transcript records, per case, every frame sent and received and every
// notable event (dials, closes, HTTP calls) with its time offset. It is
// attached to the case's report on failure or warning. Secrets and tokens
// registered with Redact never appear in it.
type Transcript struct {
	mu      sync.Mutex
	start   time.Time
	lines   []string
	secrets []string
}

// maxTranscriptFrame caps how much of one frame the transcript keeps.
const maxTranscriptFrame = 2048

func newTranscript() *Transcript { return &Transcript{start: time.Now()} }

// Redact registers a secret or token that must never be written out.
func (t *Transcript) Redact(secret string) {
	if secret == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secrets = append(t.secrets, secret)
}

func (t *Transcript) add(who, arrow, text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	off := time.Since(t.start).Seconds()
	t.lines = append(t.lines, fmt.Sprintf("%+8.3fs %-4s %s %s", off, who, arrow, text))
}

// Sent records a WebSocket message written by the suite on connection who.
func (t *Transcript) Sent(who string, msg []byte, binary bool) {
	t.add(who, "→", renderMsg(msg, binary))
}

// Recv records a WebSocket message received on connection who.
func (t *Transcript) Recv(who string, msg []byte, binary bool) {
	t.add(who, "←", renderMsg(msg, binary))
}

// Event records something that is not a frame: a dial, a close, an HTTP
// exchange, a step.
func (t *Transcript) Event(who, format string, args ...any) {
	t.add(who, "·", fmt.Sprintf(format, args...))
}

func renderMsg(msg []byte, binary bool) string {
	kind := ""
	if binary {
		kind = "[binary] "
	}
	s := string(msg)
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%s[%d bytes, not UTF-8] %q", kind, len(msg), Truncate(s, 200))
	}
	if len(s) > maxTranscriptFrame {
		s = s[:maxTranscriptFrame] + fmt.Sprintf("…(%d bytes)", len(msg))
	}
	// Show newlines so a missing or doubled terminator is visible.
	s = strings.ReplaceAll(s, "\n", `\n`)
	return kind + s
}

func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// String renders the transcript with every registered secret redacted.
func (t *Transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := strings.Join(t.lines, "\n")
	return redact(out, t.secrets)
}

// Len returns the number of recorded lines.
func (t *Transcript) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.lines)
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue // too short to redact without mangling the text
		}
		s = strings.ReplaceAll(s, sec, "<redacted>")
	}
	return s
}
