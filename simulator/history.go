package simulator

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// OutboundRecord is one outbound frame a gateway sent and what the
// simulator answered.
type OutboundRecord struct {
	Seq       uint64 `json:"seq"`
	GatewayID string `json:"gatewayId"`
	SessionID uint64 `json:"sessionId"`
	RequestID string `json:"requestId"`
	// Platform and BotID are the frame's tags as sent, "" when untagged.
	Platform string `json:"platform,omitempty"`
	BotID    string `json:"botId,omitempty"`
	// ResolvedPlatform is where the action went: the tag, or the
	// connection's default platform (OUT-013).
	ResolvedPlatform string          `json:"resolvedPlatform,omitempty"`
	Op               string          `json:"op"`
	Action           json.RawMessage `json:"action"`
	// Result is the result object sent, or planned when still delayed.
	Result     json.RawMessage `json:"result,omitempty"`
	Answered   bool            `json:"answered"`
	ScriptID   string          `json:"scriptId,omitempty"`
	ReceivedAt time.Time       `json:"receivedAt"`
	AnsweredAt time.Time       `json:"answeredAt,omitzero"`
}

// history keeps the records the inspection API returns and the ids
// OUT-021 and OUT-026 need, each bounded per gateway (or instance) and in
// total, in count and bytes (Options.HistorySize, HistoryMaxBytes,
// HistoryMaxTotalBytes).
type history struct {
	mu       sync.Mutex
	seq      uint64
	outbound boundedLog[*OutboundRecord]
	intr     boundedLog[seqInterrupt]
	wakes    boundedLog[seqWake]
	drafts   boundedMap // gateway -> chat+draft id -> message id (OUT-021)
	threads  boundedMap // gateway -> thread id -> name, for threads we created (OUT-026)
}

type seqInterrupt struct {
	seq uint64
	r   InterruptRecord
}

type seqWake struct {
	seq uint64
	r   WakeRecord
}

// Fixed costs of a record beyond its strings, roughly its struct and
// slot.
const (
	outboundOverhead  = 320
	interruptOverhead = 200
	wakeOverhead      = 160
)

func (h *history) init(c *config) {
	n, per, total := c.HistorySize, c.HistoryMaxBytes, c.HistoryMaxTotalBytes
	h.outbound.init(n, per, total, func(r *OutboundRecord) int64 {
		return outboundOverhead + int64(len(r.GatewayID)+len(r.RequestID)+len(r.Platform)+len(r.BotID)+
			len(r.ResolvedPlatform)+len(r.Op)+len(r.Action)+len(r.Result)+len(r.ScriptID))
	})
	h.intr.init(n, per, total, func(x seqInterrupt) int64 {
		r := x.r
		n := interruptOverhead + int64(len(r.GatewayID)+len(r.SessionKey)+len(r.RoutedTo)+len(r.Delivery))
		if r.Reason != nil {
			n += int64(len(*r.Reason))
		}
		return n
	})
	h.wakes.init(n, per, total, func(x seqWake) int64 {
		return wakeOverhead + int64(len(x.r.Instance)+len(x.r.URL)+len(x.r.Error))
	})
	h.drafts.init(n, per, total)
	h.threads.init(n, per, total)
}

func (h *history) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outbound.reset()
	h.intr.reset()
	h.wakes.reset()
	h.drafts.reset()
	h.threads.reset()
}

// addOutbound records r, whose Result must be set already: its size is
// counted once, here.
func (h *history) addOutbound(r *OutboundRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	r.Seq = h.seq
	h.outbound.add(r.GatewayID, r)
}

func (h *history) addInterrupt(r InterruptRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.intr.add(r.GatewayID, seqInterrupt{h.seq, r})
}

func (h *history) interrupts(gw string) []InterruptRecord {
	h.mu.Lock()
	var all []seqInterrupt
	h.intr.each(gw, func(x seqInterrupt) { all = append(all, x) })
	h.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	out := make([]InterruptRecord, len(all))
	for i, x := range all {
		out[i] = x.r
	}
	return out
}

// Outbound returns a gateway's outbound actions with their results, in
// arrival order; every gateway's when gatewayID is "". Only the newest
// records are kept (Options.HistorySize, HistoryMaxBytes,
// HistoryMaxTotalBytes).
func (s *Server) Outbound(gatewayID string) []OutboundRecord {
	h := &s.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	out := []OutboundRecord{}
	h.outbound.each(gatewayID, func(r *OutboundRecord) { out = append(out, *r) })
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}
