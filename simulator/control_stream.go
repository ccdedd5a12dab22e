package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults and fixed limits of GET /_relaysim/journal/stream.
const (
	// DefaultMaxJournalStreams is the default of Options.MaxJournalStreams.
	DefaultMaxJournalStreams = 16
	// DefaultJournalStreamLifetime is the default of
	// Options.JournalStreamLifetime.
	DefaultJournalStreamLifetime = 5 * time.Minute

	// journalStreamKeepalive is how long a stream stays silent before it
	// writes a comment line, so a client that went away without closing
	// is noticed (the write fails or runs into its deadline) and proxies
	// do not time the stream out.
	journalStreamKeepalive = 15 * time.Second
	// journalStreamBatch caps the entries read from the journal and
	// written between two flushes, so a stream that starts far behind
	// holds at most this many entries in memory at once.
	journalStreamBatch = 256
)

func (c *config) journalStreamDefaults() {
	if c.MaxJournalStreams == 0 {
		c.MaxJournalStreams = DefaultMaxJournalStreams
	}
	if c.JournalStreamLifetime <= 0 {
		c.JournalStreamLifetime = DefaultJournalStreamLifetime
	}
}

// journalStreamEnd is the data of a stream's last event.
type journalStreamEnd struct {
	// Reason is "lifetime" (JournalStreamLifetime ran out) or
	// "shutting down" (the server is closing).
	Reason string `json:"reason"`
	// Last is the sequence number of the last entry the stream covered:
	// reconnect with since (or Last-Event-ID) set to it.
	Last uint64 `json:"last"`
}

// journalStreamGap is the data of a "gap" event: entries the journal
// dropped before the stream could send them (it keeps Options.JournalSize).
type journalStreamGap struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// journalStreamRestart is the data of a "restart" event: the stream was
// asked to resume after an entry this journal never had, because relaysim
// restarted; it starts over from the oldest entry kept.
type journalStreamRestart struct {
	Since uint64 `json:"since"`
	Last  uint64 `json:"last"`
}

// ctlJournalStream is GET /journal/stream: the journal as server-sent
// events, from the entry after since (or after the Last-Event-ID header a
// reconnecting EventSource sends) on, live. Each entry is an event
// "entry" whose id is its sequence number and whose data is the entry as
// GET /journal shows it; kind keeps only entries of one kind.
//
// Every stream is bounded: at most Options.MaxJournalStreams are open at
// once (one more gets 503); each write must reach the client within
// Options.WriteTimeout, so a client that stops reading is cut off; a
// comment line every 15 s finds clients that went away; and after
// Options.JournalStreamLifetime the stream ends with an "end" event, for
// the client to reconnect where it stopped. Close ends every stream at
// once.
func (s *Server) ctlJournalStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	for _, src := range []struct{ name, v string }{{"since", q.Get("since")}, {"Last-Event-ID", r.Header.Get("Last-Event-ID")}} {
		if src.v == "" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(src.v), 10, 64)
		if err != nil {
			ctlFail(w, badRequest(src.name, "must be a sequence number"))
			return
		}
		since = n // Last-Event-ID, read second, wins: it is where the client got to
	}
	kind := q.Get("kind")
	if kind != "" && !knownJournalKind(kind) {
		ctlFail(w, badRequest("kind", "unknown journal kind %q (known: %s)", kind, journalKindList()))
		return
	}
	if max := int64(s.cfg.MaxJournalStreams); max > 0 {
		if s.journalStreams.Add(1) > max {
			s.journalStreams.Add(-1)
			w.Header().Set("Retry-After", "1")
			ctlFail(w, &RequestError{Status: http.StatusServiceUnavailable,
				Message: fmt.Sprintf("too many journal streams: at most %d at once; close one, or page with GET /journal", max)})
			return
		}
		defer s.journalStreams.Add(-1)
	}

	rc := http.NewResponseController(w)
	// A network bound: on the wall clock, like net/http's deadlines. (The
	// read deadline needs nothing: net/http clears it once a bodiless
	// request is read, and its background read ends the request's context,
	// and so the stream, as soon as the client goes away.)
	end := time.Now().Add(s.cfg.JournalStreamLifetime)
	ctx, cancel := context.WithDeadline(r.Context(), end)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Close must not wait for a stream
	defer stop()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	var buf []byte
	// Each write gets WriteTimeout of its own: the server's WriteTimeout,
	// set when the request arrived, would otherwise end a healthy stream,
	// and a client that stops reading is cut off after that long.
	flush := func() bool {
		rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		_, err := w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		buf = buf[:0]
		return err == nil
	}
	event := func(name string, v any) {
		b, _ := json.Marshal(v)
		buf = fmt.Appendf(buf, "event: %s\ndata: %s\n\n", name, b)
	}

	// A reconnecting client tells it to wait a second before it retries.
	buf = append(buf, "retry: 1000\n\n"...)
	if last := s.jr.last(); since > last {
		event("restart", journalStreamRestart{Since: since, Last: last})
		since = 0
	}
	for {
		entries, _ := s.jr.page(since, journalStreamBatch)
		if len(entries) > 0 && entries[0].Seq > since+1 {
			event("gap", journalStreamGap{From: since + 1, To: entries[0].Seq - 1})
		}
		for _, e := range entries {
			since = e.Seq
			if kind != "" && e.Kind != kind {
				continue
			}
			b, _ := json.Marshal(e)
			buf = fmt.Appendf(buf, "id: %d\nevent: entry\ndata: %s\n\n", e.Seq, b)
		}
		if len(buf) > 0 && !flush() {
			return
		}
		if len(entries) == journalStreamBatch {
			continue // more are waiting
		}
		wait, cancelWait := context.WithTimeout(ctx, journalStreamKeepalive)
		_, err := s.jr.await(wait, since, nil)
		cancelWait()
		switch {
		case err == nil:
		case r.Context().Err() != nil:
			return // the client went away
		case ctx.Err() != nil:
			reason := "lifetime"
			if s.ctx.Err() != nil {
				reason = "shutting down"
			}
			event("end", journalStreamEnd{Reason: reason, Last: since})
			flush()
			return
		default:
			buf = append(buf, ": keepalive\n\n"...)
			if !flush() {
				return
			}
		}
	}
}
