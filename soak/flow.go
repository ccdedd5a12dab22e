package soak

import (
	"sync"
	"time"
)

// flow watches the healthy gateways' deliveries (their handler calls)
// while a stalled reader or the abusive gateway is at work, and reports a
// pause in them: one peer must never slow the others down. Restarts and
// kills of the simulator stop every delivery for a while by design; a
// pause that overlaps one is not counted.
type flow struct {
	bound time.Duration
	// slack is how long after a restart or kill the gateways are given to
	// reconnect before a pause counts again.
	slack time.Duration

	mu       sync.Mutex
	last     time.Time
	stopped  time.Time // when traffic stopped; nothing after counts
	episodes []*window // stall and abuse episodes
	disrupt  []*window // restarts and kills
	// maxEpisode is the longest pause in deliveries that overlapped an
	// episode and no disruption; maxOther the longest that overlapped
	// neither, for comparison.
	maxEpisode, maxOther time.Duration
	maxKind              string
	over                 int // pauses past bound during an episode
	overFirst            string
}

// window is a stretch of time; to is zero while it lasts.
type window struct {
	kind     string
	from, to time.Time
}

func newFlow(bound, slack time.Duration) *flow { return &flow{bound: bound, slack: slack} }

// open starts a window of kind: an episode, or with disruption a restart
// or kill.
func (f *flow) open(kind string, disruption bool) *window {
	w := &window{kind: kind, from: time.Now()}
	f.mu.Lock()
	if disruption {
		f.disrupt = append(f.disrupt, w)
	} else {
		f.episodes = append(f.episodes, w)
	}
	f.mu.Unlock()
	return w
}

// close ends a window; a disruption's lasts slack longer, while the
// gateways reconnect.
func (f *flow) close(w *window, disruption bool) {
	f.mu.Lock()
	w.to = time.Now()
	if disruption {
		w.to = w.to.Add(f.slack)
	}
	f.mu.Unlock()
}

// overlapping returns the first window that overlaps [from, to].
func overlapping(ws []*window, from, to time.Time) *window {
	for _, w := range ws {
		if w.from.Before(to) && (w.to.IsZero() || w.to.After(from)) {
			return w
		}
	}
	return nil
}

// stop ends the watch: once the injector stops, deliveries stop too.
func (f *flow) stop() {
	f.mu.Lock()
	f.stopped = time.Now()
	f.mu.Unlock()
}

// delivered records a handler call of a healthy gateway at now.
func (f *flow) delivered(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped.IsZero() {
		if f.last.Before(f.stopped) {
			// The pause up to the stop still counts.
			if now.After(f.stopped) {
				now = f.stopped
			}
		} else {
			return
		}
	}
	from := f.last
	f.last = now
	if from.IsZero() || now.Sub(from) < 100*time.Millisecond {
		return
	}
	gap := now.Sub(from)
	if overlapping(f.disrupt, from, now) != nil {
		return
	}
	ep := overlapping(f.episodes, from, now)
	if ep == nil {
		f.maxOther = max(f.maxOther, gap)
		return
	}
	if gap > f.maxEpisode {
		f.maxEpisode, f.maxKind = gap, ep.kind
	}
	if gap > f.bound {
		if f.over == 0 {
			f.overFirst = ep.kind + " at " + from.Format("15:04:05.000")
		}
		f.over++
	}
	// Forget windows that ended long before: they can no longer overlap
	// a pause that matters.
	f.episodes = prune(f.episodes, from)
	f.disrupt = prune(f.disrupt, from)
}

func prune(ws []*window, before time.Time) []*window {
	keep := ws[:0]
	for _, w := range ws {
		if w.to.IsZero() || w.to.After(before.Add(-time.Minute)) {
			keep = append(keep, w)
		}
	}
	return keep
}

// FlowStats is what the flow check saw.
type FlowStats struct {
	// MaxPauseEpisodes is the longest pause in the healthy gateways'
	// deliveries that overlapped a stalled reader or an abuse burst (and
	// no restart or kill), MaxPauseKind which; MaxPauseOther the longest
	// that overlapped neither.
	MaxPauseEpisodes, MaxPauseOther time.Duration
	MaxPauseKind                    string
	// Over counts pauses during an episode longer than the bound.
	Over int
}

func (f *flow) stats() (FlowStats, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FlowStats{MaxPauseEpisodes: f.maxEpisode, MaxPauseOther: f.maxOther, MaxPauseKind: f.maxKind, Over: f.over}, f.overFirst
}
