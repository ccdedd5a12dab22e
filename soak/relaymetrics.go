package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/relaykit/relaykit/simulator"
)

// scrapeMetrics reads the simulator's GET /_relaysim/metrics, as any
// Prometheus scraper would, and parses it.
func scrapeMetrics(ctx context.Context, hc *http.Client, base string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+simulator.ControlPrefix+"metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &statusError{fmt.Sprintf("GET metrics: %d %s", resp.StatusCode, b)}
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
}

// sumMetric adds up every series of family name (0 when absent).
func sumMetric(mfs map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	for _, m := range mfs[name].GetMetric() {
		switch {
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// RelaysimStats is what the soak read from relaysim's metrics endpoint,
// sampled about once a second: the peaks of its memory and of the bounded
// structures a stalled reader and the abuser fill.
type RelaysimStats struct {
	Samples int
	// HeapLiveStart is go_gc_heap_live_bytes once every gateway was
	// connected, before traffic; HeapLiveMax its peak over the run (over
	// every relaysim process). RSSStart and RSSMax are the same for
	// process_resident_memory_bytes (0 where the platform has none).
	HeapLiveStart, HeapLiveMax uint64
	RSSStart, RSSMax           uint64
	// Peaks of relaysim_queue_max_bytes, relaysim_buffer_bytes,
	// relaysim_buffer_max_bytes and the sum of relaysim_retained_bytes.
	QueueMaxBytes, BufferBytes, BufferMaxBytes, RetainedBytes uint64
	// Peaks of go_goroutines and relaysim_sessions.
	Goroutines, Sessions int
	// Counters added up over the relaysim processes (as last sampled in
	// each): history dropped by a bound, deliveries that found their
	// socket's queue full, sockets closed because their peer stopped
	// reading.
	Dropped, QueueFull, StalledCloses int
}

// sampler scrapes the running simulator's metrics and keeps the peaks.
type sampler struct {
	hc *http.Client

	mu    sync.Mutex
	stats RelaysimStats
	// heapBound is the most go_gc_heap_live_bytes may reach: the start
	// plus Config.HeapBound. over counts samples past it, first the first.
	heapBound uint64
	over      int
	first     string
	// counters are each process's last counter values, by its base URL.
	counters map[string][3]int
}

func newSampler() *sampler {
	return &sampler{counters: map[string][3]int{}, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 10 * time.Second}}
}

func (s *sampler) close() { s.hc.CloseIdleConnections() }

// baseline reads the starting figures, once the gateways are connected.
func (s *sampler) baseline(base string, bound uint64) error {
	mfs, err := scrapeMetrics(context.Background(), s.hc, base)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.HeapLiveStart = uint64(sumMetric(mfs, "go_gc_heap_live_bytes"))
	s.stats.RSSStart = uint64(sumMetric(mfs, "process_resident_memory_bytes"))
	s.heapBound = s.stats.HeapLiveStart + bound
	s.addLocked(base, mfs)
	return nil
}

// sample reads the figures once; a simulator that is restarting or gone
// is skipped.
func (s *sampler) sample(base string) {
	mfs, err := scrapeMetrics(context.Background(), s.hc, base)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(base, mfs)
}

func (s *sampler) addLocked(base string, mfs map[string]*dto.MetricFamily) {
	st := &s.stats
	st.Samples++
	heap := uint64(sumMetric(mfs, "go_gc_heap_live_bytes"))
	st.HeapLiveMax = max(st.HeapLiveMax, heap)
	st.RSSMax = max(st.RSSMax, uint64(sumMetric(mfs, "process_resident_memory_bytes")))
	st.QueueMaxBytes = max(st.QueueMaxBytes, uint64(sumMetric(mfs, "relaysim_queue_max_bytes")))
	st.BufferBytes = max(st.BufferBytes, uint64(sumMetric(mfs, "relaysim_buffer_bytes")))
	st.BufferMaxBytes = max(st.BufferMaxBytes, uint64(sumMetric(mfs, "relaysim_buffer_max_bytes")))
	st.RetainedBytes = max(st.RetainedBytes, uint64(sumMetric(mfs, "relaysim_retained_bytes")))
	st.Goroutines = max(st.Goroutines, int(sumMetric(mfs, "go_goroutines")))
	st.Sessions = max(st.Sessions, int(sumMetric(mfs, "relaysim_sessions")))
	s.counters[base] = [3]int{int(sumMetric(mfs, "relaysim_retained_dropped_total")),
		int(sumMetric(mfs, "relaysim_queue_full_total")), int(sumMetric(mfs, "relaysim_stalled_closes_total"))}
	if s.heapBound > 0 && heap > s.heapBound {
		if s.over == 0 {
			s.first = fmt.Sprintf("%s at %s (queue %s, buffers %s, retained %s)", mib(heap), time.Now().Format("15:04:05"),
				mib(uint64(sumMetric(mfs, "relaysim_queue_bytes"))), mib(uint64(sumMetric(mfs, "relaysim_buffer_bytes"))),
				mib(uint64(sumMetric(mfs, "relaysim_retained_bytes"))))
		}
		s.over++
	}
}

func (s *sampler) result() (RelaysimStats, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	for _, c := range s.counters {
		st.Dropped += c[0]
		st.QueueFull += c[1]
		st.StalledCloses += c[2]
	}
	return st, s.over, s.first
}
