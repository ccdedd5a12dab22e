package harness

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

// RxFrame is one frame received from the implementation under test.
type RxFrame struct {
	Type  string
	Line  []byte         // the frame without its newline
	Obj   map[string]any // the decoded object; nil when not an object
	Frame contract.Frame // the typed frame; nil when it did not decode
	At    time.Time
}

// Str returns a top-level string member.
func (f RxFrame) Str(key string) string {
	v, _ := f.Obj[key].(string)
	return v
}

func (f RxFrame) String() string { return Truncate(string(f.Line), 300) }

// Peer is one WebSocket connection the suite holds with the implementation
// under test, on the module's one test peer (internal/wspeer). Its
// receiver reads every message, records it in the transcript, splits it
// into frames, checks each frame's hygiene with contract.ValidateFrame and
// queues it. Waits happen on the case's goroutine.
type Peer struct {
	S    *S
	who  string
	Conn *wspeer.Conn
	rx   *wspeer.Receiver[RxFrame]

	Mu    sync.Mutex
	Acked map[string]bool // bufferIds this peer acked
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
	P      *Peer
	Status int // HTTP status of a refused upgrade; 101 on success
	Err    error
}

// dial opens a connection to url (a ws:// or wss:// URL).
func (s *S) dialURL(url string, o dialOptions) dialResult {
	who := s.nextConn()
	wo := wspeer.Options{Header: o.header, ReadLimit: o.readSize}
	authNote := "no Authorization"
	if o.token != "" && !o.noAuth {
		wo.Token = o.token
		s.Tr.Redact(o.token)
		authNote = "Authorization: Bearer " + DescribeToken(o.token)
	}
	s.Tr.Event(who, "dial %s (%s)", url, authNote)
	ctx, cancel := context.WithTimeout(s.Ctx, s.Within(1))
	// Pings only arrive once the receiver reads.
	wo.OnPing = func() { s.Tr.Event(who, "ping from the connector") }
	conn, resp, err := wspeer.Dial(ctx, url, wo)
	cancel()
	if err != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
			s.Tr.Event(who, "upgrade refused: HTTP %d", st)
		} else {
			s.Tr.Event(who, "dial failed: %v", err)
		}
		return dialResult{Status: st, Err: err}
	}
	s.Tr.Event(who, "upgrade accepted: HTTP %d", resp.StatusCode)
	p := &Peer{S: s, who: who, Conn: conn}
	p.rx = wspeer.Receive(conn, wspeer.ReceiveOptions[RxFrame]{
		OnMessage: func(msg []byte, binary bool) { s.Tr.Recv(who, msg, binary) },
		Decode: func(line []byte) RxFrame {
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
				s.Tr.Event(who, "closed by peer: %d %q", e.Code, e.Reason)
			} else if !e.Stopped {
				s.Tr.Event(who, "connection ended without a close frame: %v", e.Err)
			}
		},
	})
	s.Mu.Lock()
	s.peers = append(s.peers, p)
	s.Mu.Unlock()
	if s.Run.Side == Connector && s.Run.Conn.Ctl == nil {
		// Every case shares the one configured gateway: the next case's
		// socket must not meet this one still open, which a connector may
		// refuse as a duplicate (RC-002). A close handshake, bounded, tells
		// the connector the socket is gone before the case ends.
		s.Cleanup(func() { p.rx.CloseNormal(time.Second) })
	} else {
		s.Cleanup(func() { p.CloseNow() })
	}
	return dialResult{P: p, Status: resp.StatusCode}
}

// DescribeToken renders a token for the transcript without the token
// itself: the gateway id and exp it claims.
func DescribeToken(tok string) string {
	claims, _, err := contract.ParseToken(tok)
	if err != nil {
		return "<token, not canonical>"
	}
	return fmt.Sprintf("<token gw=%s exp=%d>", claims.GatewayID, claims.Exp)
}

func decodeRx(line []byte) RxFrame {
	f := RxFrame{Line: append([]byte(nil), line...), At: time.Now()}
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

// Send writes one frame, encoded canonically, as one text message.
func (p *Peer) Send(f contract.Frame) {
	b, err := contract.EncodeFrame(f)
	if err != nil {
		p.S.Harness("encode %T: %v", f, err)
	}
	p.SendRaw(b, false)
}

// SendRaw writes one message exactly as given.
func (p *Peer) SendRaw(b []byte, binary bool) {
	p.S.Tr.Sent(p.who, b, binary)
	ctx, cancel := context.WithTimeout(p.S.Ctx, p.S.Within(1))
	defer cancel()
	if err := p.Conn.Write(ctx, b, binary); err != nil {
		p.S.Tr.Event(p.who, "write failed: %v", err)
	}
}

// SendJSON writes v as one JSON frame with a trailing newline.
func (p *Peer) SendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		p.S.Harness("marshal: %v", err)
	}
	p.SendRaw(append(b, '\n'), false)
}

// Hello sends one hello frame.
func (p *Peer) Hello(platform, botID string) {
	p.Send(contract.Hello{Platform: platform, BotID: botID})
}

// CloseNow ends the connection from the suite's side without a handshake.
func (p *Peer) CloseNow() { p.rx.Stop() }

// CloseNormal closes with 1000 and waits briefly for the reader to end.
func (p *Peer) CloseNormal() {
	p.S.Tr.Event(p.who, "closing 1000")
	p.rx.CloseNormal(time.Second)
}

// WaitResult is what a wait ended on.
type WaitResult int

const (
	GotFrame WaitResult = iota
	GotClose
	GotTimeout
	GotUnterminated
)

// WaitFor waits until match accepts an untaken frame (which it then takes),
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
func (p *Peer) WaitFor(d time.Duration, match func(RxFrame) bool) (RxFrame, WaitResult) {
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
			return f, GotFrame
		}
		if !shortened {
			if _, ok := p.rx.Find(func(f RxFrame) bool { return f.Type == "error" && f.At.After(start) }); ok {
				shortened = true
				if left := d - time.Since(start); left > errorGrace {
					deadline.Reset(errorGrace)
					p.S.Tr.Event(p.who, "an error frame arrived: waiting %s more, not %s", errorGrace, left.Round(time.Millisecond))
				}
			}
		}
		// Raised only when nothing matched, so that a case judges its own
		// requirement before a frame that also breaks another one blocks
		// it.
		p.S.flush()
		if p.IsClosed() {
			return RxFrame{}, GotClose
		}
		if n, since := p.rx.Pending(); n > 0 && time.Since(since) > unterminatedGrace {
			return RxFrame{}, GotUnterminated
		}
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			return RxFrame{}, GotTimeout
		case <-p.S.Ctx.Done():
			p.S.Harness("case timed out while waiting")
		}
	}
}

// errorGrace is how long a wait goes on after an error frame arrived.
const errorGrace = 500 * time.Millisecond

// unterminatedGrace is how long received bytes may wait for their newline
// before a wait reports them as an unterminated frame.
const unterminatedGrace = 400 * time.Millisecond

// OfType matches frames of one type.
func OfType(typ string) func(RxFrame) bool {
	return func(f RxFrame) bool { return f.Type == typ }
}

// Expect waits for a frame that match accepts and fails the case under
// requirement id when none arrives.
func (p *Peer) Expect(id, what string, match func(RxFrame) bool) RxFrame {
	f, r := p.WaitFor(p.S.Within(1), match)
	if r == GotFrame {
		return f
	}
	p.FailWait(id, what, r)
	return RxFrame{}
}

// FailWait fails the case under id for a wait of p.s.within(1) that ended
// with r instead of a frame.
func (p *Peer) FailWait(id, what string, r WaitResult) {
	switch r {
	case GotClose:
		p.S.Failf(id, what, "the connection closed first (%s)", p.CloseDesc())
	case GotUnterminated:
		p.Unterminated()
	default:
		p.S.Failf(id, what, "nothing matching within %s; received: %s", p.S.Within(1), p.summary())
	}
}

// Unterminated fails the case under TRN-002 for bytes that never got their
// newline.
func (p *Peer) Unterminated() {
	n, _ := p.rx.Pending()
	p.S.Failf("TRN-002", "every frame to end with \\n so the gateway's reader processes it",
		"%d bytes received without a terminating newline; a reference gateway never processes them", n)
}

// ExpectNone checks that no frame matching match arrives within d.
func (p *Peer) ExpectNone(d time.Duration, id, what string, match func(RxFrame) bool) {
	f, r := p.WaitFor(d, match)
	if r == GotFrame {
		p.S.Failf(id, what, "received %s", f)
	}
}

// ExpectClose waits for the connector to close the connection and returns
// the close code (-1 when it ended without a close frame).
func (p *Peer) ExpectClose(id, what string, d time.Duration) (int, string) {
	_, r := p.WaitFor(d, func(RxFrame) bool { return false })
	if r == GotClose {
		e, _ := p.rx.Ended()
		return e.Code, e.Reason
	}
	if r == GotUnterminated {
		p.Unterminated()
	}
	p.S.Failf(id, what, "the connection stayed open for %s", d)
	return 0, ""
}

// CloseStatus returns the close code and reason (-1 when the connection
// ended without a close frame, 0 while open).
func (p *Peer) CloseStatus() (int, string) {
	e, ended := p.rx.Ended()
	if !ended {
		return 0, ""
	}
	return e.Code, e.Reason
}

// PingCount returns how many WebSocket pings the connector sent.
func (p *Peer) PingCount() int {
	return p.rx.Pings()
}

// IsClosed reports whether the connection has ended.
func (p *Peer) IsClosed() bool {
	_, ended := p.rx.Ended()
	return ended
}

// StayOpen checks that the connection is still open after d, failing under
// id otherwise. Frames received meanwhile stay queued.
func (p *Peer) StayOpen(d time.Duration, id, what string) {
	_, r := p.WaitFor(d, func(RxFrame) bool { return false })
	switch r {
	case GotClose:
		p.S.Failf(id, what, "the connection closed: %s", p.CloseDesc())
	case GotUnterminated:
		p.Unterminated()
	}
}

func (p *Peer) CloseDesc() string {
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
func (p *Peer) summary() string {
	var types []string
	p.rx.Each(func(f RxFrame, taken bool) {
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

// All returns every frame received so far, taken or not.
func (p *Peer) All() []RxFrame {
	return p.rx.All()
}

// JSONLine marshals v compactly with a trailing newline.
func JSONLine(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}
