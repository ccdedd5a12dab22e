package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/wspeer"
)

// rxFrame is one frame received from the implementation under test.
type rxFrame struct {
	Type  string
	Line  []byte         // the frame without its newline
	Obj   map[string]any // the decoded object; nil when not an object
	Frame contract.Frame // the typed frame; nil when it did not decode
	At    time.Time
}

// str returns a top-level string member.
func (f rxFrame) str(key string) string {
	v, _ := f.Obj[key].(string)
	return v
}

func (f rxFrame) String() string { return truncate(string(f.Line), 300) }

// peer is one WebSocket connection the suite holds with the implementation
// under test, on the module's one test peer (internal/wspeer). Its
// receiver reads every message, records it in the transcript, splits it
// into frames, checks each frame's hygiene with contract.ValidateFrame and
// queues it. Waits happen on the case's goroutine.
type peer struct {
	s    *S
	who  string
	conn *wspeer.Conn
	rx   *wspeer.Receiver[rxFrame]

	mu    sync.Mutex
	acked map[string]bool // bufferIds this peer acked
}

// dialOptions shape one dial of the connector.
type dialOptions struct {
	token    string // bearer token; "" sends none
	noAuth   bool   // send no Authorization header even if token is set
	header   http.Header
	readSize int64
}

// dialResult is the outcome of a dial: a peer on success, or the HTTP
// response of a refused upgrade.
type dialResult struct {
	p      *peer
	status int // HTTP status of a refused upgrade; 101 on success
	err    error
}

// dial opens a connection to url (a ws:// or wss:// URL).
func (s *S) dialURL(url string, o dialOptions) dialResult {
	who := s.nextConn()
	wo := wspeer.Options{Header: o.header, ReadLimit: o.readSize}
	authNote := "no Authorization"
	if o.token != "" && !o.noAuth {
		wo.Token = o.token
		s.tr.Redact(o.token)
		authNote = "Authorization: Bearer " + describeToken(o.token)
	}
	s.tr.Event(who, "dial %s (%s)", url, authNote)
	ctx, cancel := context.WithTimeout(s.ctx, s.within(1))
	// Pings only arrive once the receiver reads.
	wo.OnPing = func() { s.tr.Event(who, "ping from the connector") }
	conn, resp, err := wspeer.Dial(ctx, url, wo)
	cancel()
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
			s.tr.Event(who, "upgrade refused: HTTP %d", st)
		} else {
			s.tr.Event(who, "dial failed: %v", err)
		}
		return dialResult{status: st, err: err}
	}
	s.tr.Event(who, "upgrade accepted: HTTP %d", resp.StatusCode)
	p := &peer{s: s, who: who, conn: conn}
	p.rx = wspeer.Receive(conn, wspeer.ReceiveOptions[rxFrame]{
		OnMessage: func(msg []byte, binary bool) { s.tr.Recv(who, msg, binary) },
		Decode: func(line []byte) rxFrame {
			frame := make([]byte, len(line)+1)
			copy(frame, line)
			frame[len(line)] = '\n'
			s.hygiene(who, frame, contract.ValidateFrame(frame))
			return decodeRx(frame[:len(line)])
		},
		OnOversize: func(msg []byte) {
			s.hygiene(who, msg, []contract.Violation{{Requirement: "TRN-018", Message: "frame larger than 1 MiB"}})
		},
		OnEnd: func(e wspeer.End) {
			if e.Code >= 0 {
				s.tr.Event(who, "closed by peer: %d %q", e.Code, e.Reason)
			} else if !e.Stopped {
				s.tr.Event(who, "connection ended without a close frame: %v", e.Err)
			}
		},
	})
	s.cleanup(func() { p.closeNow() })
	return dialResult{p: p, status: resp.StatusCode}
}

// describeToken renders a token for the transcript without the token
// itself: the gateway id and exp it claims.
func describeToken(tok string) string {
	claims, _, err := contract.ParseToken(tok)
	if err != nil {
		return "<token, not canonical>"
	}
	return fmt.Sprintf("<token gw=%s exp=%d>", claims.GatewayID, claims.Exp)
}

func decodeRx(line []byte) rxFrame {
	f := rxFrame{Line: append([]byte(nil), line...), At: time.Now()}
	var m map[string]any
	if json.Unmarshal(line, &m) == nil {
		f.Obj = m
		f.Type, _ = m["type"].(string)
	}
	if fr, err := contract.DecodeFrame(line); err == nil {
		f.Frame = fr
	}
	return f
}

// send writes one frame, encoded canonically, as one text message.
func (p *peer) send(f contract.Frame) {
	b, err := contract.EncodeFrame(f)
	if err != nil {
		p.s.Harness("encode %T: %v", f, err)
	}
	p.sendRaw(b, false)
}

// sendRaw writes one message exactly as given.
func (p *peer) sendRaw(b []byte, binary bool) {
	p.s.tr.Sent(p.who, b, binary)
	ctx, cancel := context.WithTimeout(p.s.ctx, p.s.within(1))
	defer cancel()
	if err := p.conn.Write(ctx, b, binary); err != nil {
		p.s.tr.Event(p.who, "write failed: %v", err)
	}
}

// sendJSON writes v as one JSON frame with a trailing newline.
func (p *peer) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.s.Harness("marshal: %v", err)
	}
	p.sendRaw(append(b, '\n'), false)
}

// hello sends one hello frame.
func (p *peer) hello(platform, botID string) {
	p.send(contract.Hello{Platform: platform, BotID: botID})
}

// closeNow ends the connection from the suite's side without a handshake.
func (p *peer) closeNow() { p.rx.Stop() }

// closeNormal closes with 1000 and waits briefly for the reader to end.
func (p *peer) closeNormal() {
	p.s.tr.Event(p.who, "closing 1000")
	p.rx.CloseNormal(time.Second)
}

// waitResult is what a wait ended on.
type waitResult int

const (
	gotFrame waitResult = iota
	gotClose
	gotTimeout
	gotUnterminated
)

// waitFor waits until match accepts an untaken frame (which it then takes),
// the connection closes, or d passes. Frames that do not match stay queued
// for later waits. When bytes without a terminating newline have been
// pending for a while, it returns gotUnterminated: the reference gateway
// would never process them (TRN-002).
//
// A frame of type "error" that does not match shortens the wait to
// errorGrace from its arrival: a connector that answers with an error frame
// rarely sends what the case waits for afterwards, and a failing run should
// not wait out every bound. The grace still lets an error frame sent beside
// the expected answer pass.
func (p *peer) waitFor(d time.Duration, match func(rxFrame) bool) (rxFrame, waitResult) {
	start := time.Now()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	shortened := false
	for {
		// Taken before looking, so that no change is missed.
		wake := p.rx.Changed()
		if f, ok := p.rx.Take(match); ok {
			return f, gotFrame
		}
		if !shortened {
			if _, ok := p.rx.Find(func(f rxFrame) bool { return f.Type == "error" && f.At.After(start) }); ok {
				shortened = true
				if left := d - time.Since(start); left > errorGrace {
					deadline.Reset(errorGrace)
					p.s.tr.Event(p.who, "an error frame arrived: waiting %s more, not %s", errorGrace, left.Round(time.Millisecond))
				}
			}
		}
		// Raised only when nothing matched, so that a case judges its own
		// requirement before a frame that also breaks another one blocks
		// it.
		p.s.flush()
		if p.isClosed() {
			return rxFrame{}, gotClose
		}
		if n, since := p.rx.Pending(); n > 0 && time.Since(since) > unterminatedGrace {
			return rxFrame{}, gotUnterminated
		}
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			return rxFrame{}, gotTimeout
		case <-p.s.ctx.Done():
			p.s.Harness("case timed out while waiting")
		}
	}
}

// errorGrace is how long a wait goes on after an error frame arrived.
const errorGrace = 500 * time.Millisecond

// unterminatedGrace is how long received bytes may wait for their newline
// before a wait reports them as an unterminated frame.
const unterminatedGrace = 400 * time.Millisecond

// ofType matches frames of one type.
func ofType(typ string) func(rxFrame) bool {
	return func(f rxFrame) bool { return f.Type == typ }
}

// expect waits for a frame that match accepts and fails the case under
// requirement id when none arrives.
func (p *peer) expect(id, what string, match func(rxFrame) bool) rxFrame {
	f, r := p.waitFor(p.s.within(1), match)
	if r == gotFrame {
		return f
	}
	p.failWait(id, what, r)
	return rxFrame{}
}

// failWait fails the case under id for a wait of p.s.within(1) that ended
// with r instead of a frame.
func (p *peer) failWait(id, what string, r waitResult) {
	switch r {
	case gotClose:
		p.s.Failf(id, what, "the connection closed first (%s)", p.closeDesc())
	case gotUnterminated:
		p.unterminated()
	default:
		p.s.Failf(id, what, "nothing matching within %s; received: %s", p.s.within(1), p.summary())
	}
}

// unterminated fails the case under TRN-002 for bytes that never got their
// newline.
func (p *peer) unterminated() {
	n, _ := p.rx.Pending()
	p.s.Failf("TRN-002", "every frame to end with \\n so the gateway's reader processes it",
		"%d bytes received without a terminating newline; a reference gateway never processes them", n)
}

// expectNone checks that no frame matching match arrives within d.
func (p *peer) expectNone(d time.Duration, id, what string, match func(rxFrame) bool) {
	f, r := p.waitFor(d, match)
	if r == gotFrame {
		p.s.Failf(id, what, "received %s", f)
	}
}

// expectClose waits for the connector to close the connection and returns
// the close code (-1 when it ended without a close frame).
func (p *peer) expectClose(id, what string, d time.Duration) (int, string) {
	_, r := p.waitFor(d, func(rxFrame) bool { return false })
	if r == gotClose {
		e, _ := p.rx.Ended()
		return e.Code, e.Reason
	}
	if r == gotUnterminated {
		p.unterminated()
	}
	p.s.Failf(id, what, "the connection stayed open for %s", d)
	return 0, ""
}

// closeStatus returns the close code and reason (-1 when the connection
// ended without a close frame, 0 while open).
func (p *peer) closeStatus() (int, string) {
	e, ended := p.rx.Ended()
	if !ended {
		return 0, ""
	}
	return e.Code, e.Reason
}

// pingCount returns how many WebSocket pings the connector sent.
func (p *peer) pingCount() int {
	return p.rx.Pings()
}

// isClosed reports whether the connection has ended.
func (p *peer) isClosed() bool {
	_, ended := p.rx.Ended()
	return ended
}

// stayOpen checks that the connection is still open after d, failing under
// id otherwise. Frames received meanwhile stay queued.
func (p *peer) stayOpen(d time.Duration, id, what string) {
	_, r := p.waitFor(d, func(rxFrame) bool { return false })
	switch r {
	case gotClose:
		p.s.Failf(id, what, "the connection closed: %s", p.closeDesc())
	case gotUnterminated:
		p.unterminated()
	}
}

func (p *peer) closeDesc() string {
	e, ended := p.rx.Ended()
	if !ended {
		return "open"
	}
	if e.Code < 0 {
		return fmt.Sprintf("ended without a close frame (%v)", e.Err)
	}
	return fmt.Sprintf("close %d %q", e.Code, e.Reason)
}

// summary lists the frames received so far, for failure messages.
func (p *peer) summary() string {
	var types []string
	p.rx.Each(func(f rxFrame, taken bool) {
		t := f.Type
		if t == "" {
			t = "?"
		}
		if taken {
			t += "(seen)"
		}
		types = append(types, t)
	})
	if len(types) == 0 {
		return "no frames"
	}
	return strings.Join(types, ", ")
}

// all returns every frame received so far, taken or not.
func (p *peer) all() []rxFrame {
	return p.rx.All()
}

// jsonLine marshals v compactly with a trailing newline.
func jsonLine(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}
