package soak

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// wsTap decodes one direction of a WebSocket connection as it passes the
// proxy, so the soak can record what a gateway received and sent from the
// bytes on its own socket, trusting neither the client nor the
// simulator's journal. It sees bytes before the proxy forwards them. Only
// what the soak needs is decoded: RFC 6455 framing (masked or not,
// fragmented or not, control frames skipped) and the newline-delimited
// JSON frames inside text messages. Compression is never negotiated with
// relaysim's defaults; a tap that meets something it cannot decode stops
// and reports it once.
type wsTap struct {
	// head: the HTTP response head still has to pass (the connector's
	// direction); the WebSocket stream starts after it.
	head  bool
	buf   []byte // bytes not yet decoded
	msg   []byte // the text message being reassembled
	inMsg bool
	line  []byte // a contract frame split across messages
	dead  bool
	emit  func(frame []byte)
	fail  func(err error)
}

// tapCap bounds what a tap holds: a contract frame is at most 1 MiB.
const tapCap = 4 << 20

func newTap(head bool, emit func([]byte), fail func(error)) *wsTap {
	return &wsTap{head: head, emit: emit, fail: fail}
}

// Write consumes bytes as they pass; it never fails, so the splice is
// never disturbed by the tap.
func (t *wsTap) Write(p []byte) (int, error) {
	if t.dead {
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	if err := t.decode(); err != nil {
		t.dead, t.buf, t.msg, t.line = true, nil, nil, nil
		t.fail(err)
	}
	return len(p), nil
}

func (t *wsTap) decode() error {
	if t.head {
		end := bytes.Index(t.buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(t.buf) > 64<<10 {
				return errors.New("HTTP response head over 64 KiB")
			}
			return nil
		}
		head := t.buf[:end]
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
			// A refused upgrade: no WebSocket stream follows.
			t.dead, t.buf = true, nil
			return nil
		}
		if bytes.Contains(bytes.ToLower(head), []byte("sec-websocket-extensions")) {
			return errors.New("the upgrade negotiated an extension; the tap cannot decode compressed frames")
		}
		t.buf = t.buf[end+4:]
		t.head = false
	}
	for {
		n, err := t.frame()
		if err != nil || n == 0 {
			if len(t.buf) > tapCap {
				return fmt.Errorf("a WebSocket frame over %d bytes", tapCap)
			}
			return err
		}
		t.buf = t.buf[n:]
	}
}

// frame decodes one WebSocket frame from t.buf and returns its length, or
// 0 when it is not complete yet.
func (t *wsTap) frame() (int, error) {
	b := t.buf
	if len(b) < 2 {
		return 0, nil
	}
	fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, b[0]&0x0f
	masked, n := b[1]&0x80 != 0, uint64(b[1]&0x7f)
	if rsv != 0 {
		return 0, errors.New("a WebSocket frame with RSV bits set (compressed); the tap cannot decode it")
	}
	h := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		n, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if n > tapCap {
		return 0, fmt.Errorf("a WebSocket frame of %d bytes", n)
	}
	var key []byte
	if masked {
		if len(b) < h+4 {
			return 0, nil
		}
		key, h = b[h:h+4], h+4
	}
	if uint64(len(b)) < uint64(h)+n {
		return 0, nil
	}
	payload := b[h : h+int(n)]
	if masked {
		for i := range payload {
			payload[i] ^= key[i&3]
		}
	}
	switch op {
	case 0x0: // continuation
		if !t.inMsg {
			return 0, errors.New("a continuation frame outside a message")
		}
		t.msg = append(t.msg, payload...)
	case 0x1, 0x2: // text, binary
		if t.inMsg {
			return 0, errors.New("a new message inside a fragmented one")
		}
		t.msg, t.inMsg = append(t.msg[:0], payload...), true
	default: // close, ping, pong: not contract frames
		return h + int(n), nil
	}
	if len(t.msg) > tapCap {
		return 0, fmt.Errorf("a WebSocket message over %d bytes", tapCap)
	}
	if fin {
		t.message(t.msg)
		t.msg, t.inMsg = t.msg[:0], false
	}
	return h + int(n), nil
}

// message splits a message into its newline-terminated contract frames.
func (t *wsTap) message(m []byte) {
	for len(m) > 0 {
		i := bytes.IndexByte(m, '\n')
		if i < 0 {
			t.line = append(t.line, m...)
			return
		}
		if len(t.line) > 0 {
			t.line = append(t.line, m[:i]...)
			t.emit(t.line)
			t.line = t.line[:0]
		} else if i > 0 {
			t.emit(m[:i])
		}
		m = m[i+1:]
	}
}

// tapFrame is what the soak reads of one contract frame.
type tapFrame struct {
	Type      string `json:"type"`
	BufferID  string `json:"bufferId"`
	RequestID string `json:"requestId"`
}

func decodeTapFrame(line []byte) (tapFrame, bool) {
	var f tapFrame
	if err := json.Unmarshal(line, &f); err != nil || f.Type == "" {
		return f, false
	}
	return f, true
}
