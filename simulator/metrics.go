package simulator

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relaykit/relaykit/contract"
)

// metrics is what GET /_relaysim/metrics serves, in the Prometheus text
// format. Most of it is read at scrape time from the state the simulator
// keeps anyway (Usage, the sockets, the buffers); the counters below are
// what no other structure remembers. Only the frame counters sit on the
// hot path, as plain atomics; the refusal counters count rare events.
// docs/relaysim.md documents every metric.
type metrics struct {
	handler http.Handler

	framesIn, framesOut [numFrameTypes]atomic.Uint64

	// tokenRefusals counts refused tokens by route and reason; throttled
	// ones count here too.
	tokenRefusals [numAuthRoutes][numAuthKinds]atomic.Uint64
	// refusals counts answers that refuse work, by the answer and its
	// reason (refusalKinds); the 507s of full buffers and the 503s of the
	// connection cap are counted where they already were
	// (Server.bufRefused, connLimiter.refused).
	refusals [numRefusals]atomic.Uint64
	// queueFull counts deliveries that found their socket's write queue
	// full: live events buffered, interrupts dropped.
	queueFullBuffered, queueFullDropped atomic.Uint64
	// stalled counts sockets closed 1011 because the peer stopped
	// reading: no pong in time, or no write progress.
	stalledKeepalive, stalledWrite atomic.Uint64

	closeMu sync.Mutex
	closes  map[closeKey]uint64
}

type closeKey struct {
	by   string // relaysim, gateway, network
	code string
}

// Frame types, as the frames metric labels them: the contract's eleven,
// "other" for a type the contract does not define, and "malformed" for a
// line that is not a JSON object.
var frameTypeNames = [...]string{
	contract.TypeHello, contract.TypeOutbound, contract.TypeInterrupt, contract.TypeGoingIdle,
	contract.TypeInboundAck, contract.TypeDescriptor, contract.TypeInbound, contract.TypeOutboundResult,
	contract.TypeInterruptInbound, contract.TypeGoingIdleAck, contract.TypePassthroughForward,
	"other", "malformed",
}

const (
	ftOther       = 11
	ftMalformed   = 12
	numFrameTypes = len(frameTypeNames)
)

// frameTypeIndex maps a frame type to its slot; a switch, so counting a
// frame costs no map lookup.
func frameTypeIndex(t string) int {
	switch t {
	case contract.TypeHello:
		return 0
	case contract.TypeOutbound:
		return 1
	case contract.TypeInterrupt:
		return 2
	case contract.TypeGoingIdle:
		return 3
	case contract.TypeInboundAck:
		return 4
	case contract.TypeDescriptor:
		return 5
	case contract.TypeInbound:
		return 6
	case contract.TypeOutboundResult:
		return 7
	case contract.TypeInterruptInbound:
		return 8
	case contract.TypeGoingIdleAck:
		return 9
	case contract.TypePassthroughForward:
		return 10
	}
	return ftOther
}

// Reasons a token is refused, as the token refusals metric labels them
// (authResult.kind).
const (
	authMissing        = "missing"
	authMalformed      = "malformed"
	authUnknownGateway = "unknown_gateway"
	authRevoked        = "revoked"
	authBadSignature   = "bad_signature"
	authExpired        = "expired"
	authDeviation      = "deviation"
	authNotAccepted    = "not_accepted" // an identity bearer no configured token matches
)

var authKindNames = [...]string{authMissing, authMalformed, authUnknownGateway, authRevoked, authBadSignature, authExpired, authDeviation, authNotAccepted}

var authRouteNames = [...]authRoute{routeUpgrade, routeHTTP, routeIdentity}

const (
	numAuthKinds  = len(authKindNames)
	numAuthRoutes = len(authRouteNames)
)

func authKindIndex(kind string) int {
	for i, k := range authKindNames {
		if k == kind {
			return i
		}
	}
	return 0 // every refusal names its kind; missing is the safe guess
}

func authRouteIndex(r authRoute) int {
	for i, k := range authRouteNames {
		if k == r {
			return i
		}
	}
	return 0
}

// Refusals counted in metrics.refusals, with the answer each gets.
const (
	refUpgradeThrottled   = iota // 1013: a refused token past the failure burst
	refHTTPThrottled             // 429: the same on the HTTP routes and identity bearers
	refProvisionThrottled        // 429: provision and enroll calls past their burst
	refMediaFull                 // 507: the media store is full
	refGatewaysFull              // 507: provision or enroll would pass MaxGateways(PerTenant)
	refMaxSessions               // 1013: MaxSessions sockets are open
	refRefusingFault             // 1013: the refuseConnections fault is on
	numRefusals
)

var refusalLabels = [numRefusals][2]string{ // answer, reason
	{"1013", "auth_throttled"}, {"429", "auth_throttled"}, {"429", "provision_throttled"},
	{"507", "media_full"}, {"507", "gateways_full"}, {"1013", "max_sessions"}, {"1013", "refusing_fault"},
}

// Retained structures, as Usage names them.
var retainedNames = [...]string{"outbound", "interrupts", "wakes", "drafts", "threads", "journal", "learned"}

func (u Usage) retained() [len(retainedNames)]Retained {
	return [...]Retained{u.Outbound, u.Interrupt, u.Wakes, u.Drafts, u.Threads, u.Journal, u.Learned}
}

func newMetrics(s *Server) *metrics {
	m := &metrics{closes: map[closeKey]uint64{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		// go_goroutines, go_memstats_*, and go_gc_heap_live_bytes: the heap
		// the last collection found live, which, unlike the allocated heap,
		// does not swing with garbage; the soak bounds it.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		// process_resident_memory_bytes, process_open_fds, ...
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&simCollector{s: s, m: m},
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: promLog{s.log},
		// A collector that fails (a /proc file missing, say) costs its own
		// metrics, not the scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// promLog passes promhttp's errors to the simulator's logger.
type promLog struct{ l *slog.Logger }

func (p promLog) Println(v ...any) { p.l.Warn("relaysim: metrics: " + fmt.Sprint(v...)) }

func (m *metrics) frameIn(typ string)  { m.framesIn[frameTypeIndex(typ)].Add(1) }
func (m *metrics) frameOut(typ string) { m.framesOut[frameTypeIndex(typ)].Add(1) }
func (m *metrics) malformedIn()        { m.framesIn[ftMalformed].Add(1) }
func (m *metrics) refused(kind int)    { m.refusals[kind].Add(1) }
func (m *metrics) queueFull(buffered bool) {
	if buffered {
		m.queueFullBuffered.Add(1)
	} else {
		m.queueFullDropped.Add(1)
	}
}

func (m *metrics) tokenRefused(route authRoute, kind string) {
	m.tokenRefusals[authRouteIndex(route)][authKindIndex(kind)].Add(1)
}

// closed counts a socket's close: by relaysim (any code: they are ours),
// by the gateway (a code outside the contract's counts as "other", so a
// peer cannot mint label values), or by the network (no close frame).
func (m *metrics) closed(by string, code int) {
	label := strconv.Itoa(code)
	if by == "gateway" && !contractCloseCode(code) {
		label = "other"
	}
	m.closeMu.Lock()
	m.closes[closeKey{by, label}]++
	m.closeMu.Unlock()
}

func contractCloseCode(code int) bool {
	switch code {
	case contract.CloseNormal, contract.CloseGoingAway, contract.CloseProtocolError, contract.CloseUnsupportedData,
		contract.CloseInvalidPayload, contract.ClosePolicyViolation, contract.CloseTooBig, contract.CloseInternalError,
		contract.CloseTryAgainLater, contract.CloseUnauthorized, contract.CloseConflict:
		return true
	}
	return false
}

// ctlMetrics serves the metrics in the Prometheus text format.
func (s *Server) ctlMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}

// simCollector reads the simulator's state at scrape time.
type simCollector struct {
	s *Server
	m *metrics
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("relaysim_"+name, help, labels, nil)
}

var (
	descSessions           = desc("sessions", "Authenticated sockets open.")
	descSessionsHandshaked = desc("sessions_handshaked", "Open sockets that were answered at least one descriptor.")
	descQueueFrames        = desc("queue_frames", "Frames in every socket's write queue, or being written.")
	descQueueBytes         = desc("queue_bytes", "Bytes in every socket's write queue, or being written (a pooled frame buffer counts its capacity).")
	descQueueMaxFrames     = desc("queue_max_frames", "Frames in the fullest socket write queue.")
	descQueueMaxBytes      = desc("queue_max_bytes", "Bytes in the fullest socket write queue.")
	descBufferEntries      = desc("buffer_entries", "Entries buffered across instances.")
	descBufferBytes        = desc("buffer_bytes", "Bytes buffered across instances.")
	descBufferMaxBytes     = desc("buffer_max_bytes", "Bytes in the fullest instance buffer.")
	descRetainedEntries    = desc("retained_entries", "Entries a bounded structure holds.", "structure")
	descRetainedBytes      = desc("retained_bytes", "Bytes a bounded structure holds (relaysim's accounting).", "structure")
	descRetainedDropped    = desc("retained_dropped_total", "Entries a bound removed from a structure, oldest first.", "structure")
	descRebuffered         = desc("rebuffered_total", "Live events moved to the buffer because their socket closed before writing them.")
	descQueueFull          = desc("queue_full_total", "Deliveries that found their socket's write queue full: live events buffered instead, interrupts dropped.", "action")
	descStalled            = desc("stalled_closes_total", "Sockets closed 1011 because the peer stopped reading.", "reason")
	descRefusals           = desc("refusals_total", "Requests and sockets refused by a limit, by the answer they got and why.", "answer", "reason")
	descTokenRefusals      = desc("token_refusals_total", "Refused gateway tokens and identity bearers, by route and reason (throttled ones included).", "route", "reason")
	descCloses             = desc("closes_total", "Sockets closed, by who closed them and the close code.", "by", "code")
	descFrames             = desc("frames_total", "Frames read from and written to gateways, by type.", "direction", "type")
)

func (c *simCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descSessions, descSessionsHandshaked, descQueueFrames, descQueueBytes, descQueueMaxFrames, descQueueMaxBytes,
		descBufferEntries, descBufferBytes, descBufferMaxBytes, descRetainedEntries, descRetainedBytes, descRetainedDropped,
		descRebuffered, descQueueFull, descStalled, descRefusals, descTokenRefusals, descCloses, descFrames,
	} {
		ch <- d
	}
}

func (c *simCollector) Collect(ch chan<- prometheus.Metric) {
	s, m := c.s, c.m
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	u := s.Usage()
	st := s.socketStats()
	gauge(descSessions, float64(u.Sessions))
	gauge(descSessionsHandshaked, float64(st.handshaked))
	gauge(descQueueFrames, float64(u.QueuedFrames))
	gauge(descQueueBytes, float64(u.QueuedBytes))
	gauge(descQueueMaxFrames, float64(st.maxFrames))
	gauge(descQueueMaxBytes, float64(st.maxBytes))
	gauge(descBufferEntries, float64(u.BufferedEntries))
	gauge(descBufferBytes, float64(u.BufferedBytes))
	gauge(descBufferMaxBytes, float64(st.maxBuffer))
	for i, r := range u.retained() {
		gauge(descRetainedEntries, float64(r.Entries), retainedNames[i])
		gauge(descRetainedBytes, float64(r.Bytes), retainedNames[i])
		counter(descRetainedDropped, r.Dropped, retainedNames[i])
	}
	counter(descRebuffered, u.Rebuffered)
	counter(descQueueFull, m.queueFullBuffered.Load(), "buffered")
	counter(descQueueFull, m.queueFullDropped.Load(), "dropped")
	counter(descStalled, m.stalledKeepalive.Load(), "keepalive_timeout")
	counter(descStalled, m.stalledWrite.Load(), "write_timeout")

	for i := range m.refusals {
		counter(descRefusals, m.refusals[i].Load(), refusalLabels[i][0], refusalLabels[i][1])
	}
	counter(descRefusals, u.BufferRefused, "507", "buffer_full")
	var connRefused uint64
	if s.connLimit != nil {
		connRefused = s.connLimit.refused.Load()
	}
	counter(descRefusals, connRefused, "503", "max_conns")

	for ri, route := range authRouteNames {
		for ki, kind := range authKindNames {
			if (route == routeIdentity) != (kind == authNotAccepted) {
				continue // identity bearers are refused one way, tokens the others
			}
			counter(descTokenRefusals, m.tokenRefusals[ri][ki].Load(), string(route), kind)
		}
	}

	m.closeMu.Lock()
	keys := make([]closeKey, 0, len(m.closes))
	for k := range m.closes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].by+keys[i].code < keys[j].by+keys[j].code })
	counts := make([]uint64, len(keys))
	for i, k := range keys {
		counts[i] = m.closes[k]
	}
	m.closeMu.Unlock()
	for i, k := range keys {
		counter(descCloses, counts[i], k.by, k.code)
	}

	for i, name := range frameTypeNames {
		counter(descFrames, m.framesIn[i].Load(), "in", name)
		counter(descFrames, m.framesOut[i].Load(), "out", name)
	}
}

// socketStats are the per-socket and per-instance figures Usage sums
// away.
type socketStats struct {
	handshaked          int
	maxFrames           int
	maxBytes, maxBuffer int64
}

func (s *Server) socketStats() socketStats {
	var st socketStats
	s.mu.RLock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	insts := make([]*instance, 0, len(s.instances))
	for _, in := range s.instances {
		insts = append(insts, in)
	}
	s.mu.RUnlock()
	for _, sess := range sessions {
		sess.inst.mu.Lock()
		if len(sess.platforms) > 0 {
			st.handshaked++
		}
		sess.inst.mu.Unlock()
		f, b := sess.queueUsage()
		st.maxFrames, st.maxBytes = max(st.maxFrames, f), max(st.maxBytes, b)
	}
	for _, in := range insts {
		in.mu.Lock()
		st.maxBuffer = max(st.maxBuffer, in.bufBytes)
		in.mu.Unlock()
	}
	return st
}
