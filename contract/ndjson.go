package contract

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrFrameTooLarge is returned by LineSplitter when a frame exceeds its cap.
// The error is a *FrameTooLargeError, which says more.
var ErrFrameTooLarge = errors.New("frame too large")

// FrameTooLargeError is LineSplitter's error for a frame over its cap. It
// matches ErrFrameTooLarge with errors.Is.
type FrameTooLargeError struct {
	// Size is the length of a complete oversized line, or of the part of
	// an unterminated one received so far.
	Size int
	// Limit is the cap that was exceeded.
	Limit int
	// Unterminated reports that no newline has arrived yet: the rest of
	// the frame is still on its way, and a receiver that carries on must
	// skip up to the next newline.
	Unterminated bool
}

func (e *FrameTooLargeError) Error() string {
	if e.Unterminated {
		return fmt.Sprintf("%v: more than %d bytes without a newline", ErrFrameTooLarge, e.Limit)
	}
	return fmt.Sprintf("%v: %d bytes, cap is %d", ErrFrameTooLarge, e.Size, e.Limit)
}

// Is makes errors.Is(err, ErrFrameTooLarge) hold.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// LineSplitter turns a stream of WebSocket messages into frame lines. A
// message may hold several frames, and a frame may be split across messages
// (TRN-005); only text followed by "\n" is a complete frame, as in the
// reference gateway's reader. Whitespace-only lines are skipped.
//
// The zero value caps frames at MaxFrameSize. A LineSplitter is not safe for
// concurrent use.
type LineSplitter struct {
	// MaxFrameSize caps one frame, newline excluded; 0 means MaxFrameSize.
	// A longer frame, complete or still pending, is an error.
	MaxFrameSize int

	pending []byte
}

func (s *LineSplitter) limit() int {
	if s.MaxFrameSize > 0 {
		return s.MaxFrameSize
	}
	return MaxFrameSize
}

// Feed appends msg and calls fn with each complete line, without its
// newline. The line slice is only valid during the call. Feed stops at the
// first error from fn and returns it; a frame over the cap returns an error
// *FrameTooLargeError (which matches ErrFrameTooLarge), after which the
// splitter should be discarded.
func (s *LineSplitter) Feed(msg []byte, fn func(line []byte) error) error {
	limit := s.limit()
	data := msg
	if len(s.pending) > 0 {
		s.pending = append(s.pending, msg...)
		data = s.pending
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		data = data[i+1:]
		if len(line) > limit {
			return &FrameTooLargeError{Size: len(line), Limit: limit}
		}
		if isBlank(line) {
			continue
		}
		if err := fn(line); err != nil {
			s.keep(data)
			return err
		}
	}
	if len(data) > limit {
		return &FrameTooLargeError{Size: len(data), Limit: limit, Unterminated: true}
	}
	s.keep(data)
	return nil
}

// keep stores the unterminated remainder, copying it out of msg.
func (s *LineSplitter) keep(rest []byte) {
	if len(rest) == 0 {
		s.pending = s.pending[:0]
		return
	}
	s.pending = append(s.pending[:0], rest...)
}

// Pending returns how many bytes wait for a newline.
func (s *LineSplitter) Pending() int { return len(s.pending) }

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
