package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// maxFrame is the contract's frame cap, newline excluded (TRN-007,
// TRN-018).
const maxFrame = 1 << 20

// mintToken makes an upgrade token (AUTH-003): unpadded base64url of
// "<id>:<exp>:<hex hmac-sha256 of id:exp>". A ttl of zero or less gives
// exp 0, which never expires (AUTH-004).
func mintToken(gatewayID, secret string, now time.Time, ttl time.Duration) string {
	var exp int64
	if ttl > 0 {
		exp = now.Unix() + int64((ttl+time.Second-1)/time.Second)
	}
	signed := gatewayID + ":" + strconv.FormatInt(exp, 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return base64.RawURLEncoding.EncodeToString([]byte(signed + ":" + hex.EncodeToString(mac.Sum(nil))))
}

// encodeFrame writes v as one frame: JSON with every non-ASCII character
// escaped as \uXXXX (surrogate pairs for astral ones), as the reference
// gateway's serialiser does, and one trailing newline. A frame over the
// cap is refused rather than written (TRN-018).
func encodeFrame(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := asciiJSON(bytes.TrimRight(buf.Bytes(), "\n"))
	if len(out) > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes is over the 1 MiB cap", len(out))
	}
	return append(out, '\n'), nil
}

// asciiJSON escapes every non-ASCII rune of a JSON text. Outside strings a
// JSON text is ASCII, so escaping blindly is exact.
func asciiJSON(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			out = append(out, b[0])
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
			continue
		}
		out = fmt.Appendf(out, `\u%04x`, r)
	}
	return out
}

// lines is lantern's NDJSON reassembly: bytes are appended as they are
// read, every complete line is handed on, an unterminated tail waits for
// more (TRN-005). Message boundaries do not matter, so a connector may
// batch any number of frames in one message; a single frame is capped.
type lines struct {
	buf []byte
}

var errLineTooLong = errors.New("a frame over 1 MiB")

// feed appends data and calls fn for each complete line, newline (and a
// CR before it) removed; fn must not keep the slice. A line, or an
// unterminated tail, longer than the frame cap ends the stream with
// errLineTooLong.
func (l *lines) feed(data []byte, fn func(line []byte)) error {
	l.buf = append(l.buf, data...)
	start := 0
	for {
		i := bytes.IndexByte(l.buf[start:], '\n')
		if i < 0 {
			break
		}
		line := l.buf[start : start+i]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > maxFrame {
			return errLineTooLong
		}
		fn(line)
		start += i + 1
	}
	if len(l.buf)-start > maxFrame+1 {
		return errLineTooLong
	}
	n := copy(l.buf, l.buf[start:])
	l.buf = l.buf[:n]
	if n == 0 && cap(l.buf) > 64<<10 {
		l.buf = nil // do not keep a big frame's buffer between frames
	}
	return nil
}

// newRequestID mints lantern's requestIds: 32 lowercase hex characters
// (OUT-002) laid out like a UUIDv7 without dashes, a 48-bit millisecond
// clock followed by 80 random bits, so ids sort by time in logs.
func newRequestID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	b[6] = 0x70 | b[6]&0x0f // version 7
	b[8] = 0x80 | b[8]&0x3f // RFC 9562 variant
	return hex.EncodeToString(b[:])
}

// contentRequestID is the deviation content-addressed-request-ids: a hash
// of the destination and the action, so identical actions share an id.
func contentRequestID(platform string, action any) string {
	b, _ := json.Marshal(action)
	sum := sha256.Sum256(append([]byte(platform+"\x00"), b...))
	return hex.EncodeToString(sum[:16])
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
