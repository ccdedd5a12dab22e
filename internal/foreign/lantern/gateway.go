package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// gateway is the whole of lantern: credentials, the supervisor's state,
// the live connection and the agent's memory.
type gateway struct {
	cfg    *config
	log    *slog.Logger
	dev    string
	http   *http.Client // provision, enroll, policy, media
	wsHTTP *http.Client // the upgrade

	journal *journal
	seen    *recent // replay keys of admitted events (IN-010)
	fwdSeen *recent // bufferIds of admitted passthrough forwards
	meta    *chatMeta
	prompts *promptBook
	turns   *turnTable
	turnCtx context.Context // parent of every turn; cancelled at shutdown

	draftSeq  int64
	draftMu   sync.Mutex
	dormantMu sync.Mutex

	mu        sync.Mutex
	id        string
	secret    string
	cur       *conn
	attempts  int  // reconnect attempt counter (RC-006, RC-007)
	everDesc  bool // a descriptor was ever received (RC-010, RC-011)
	freshRole bool // the next dial is the fresh-token dial (RC-011, RC-014)
	stopping  bool
}

// errRevoked ends the supervisor: the relay refused the fresh token
// (RC-012).
var errRevoked = errors.New("relay access revoked (4401 on the fresh-token connection)")

func (g *gateway) gatewayID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.id
}

func (g *gateway) secretValue() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.secret
}

func (g *gateway) botID(platform string) string {
	for _, id := range g.cfg.identities {
		if id.platform == platform {
			return id.botID
		}
	}
	return ""
}

// current returns the live connection, nil between dials.
func (g *gateway) current() *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// onHandshake runs at a connection's first descriptor.
func (g *gateway) onHandshake(c *conn) {
	g.mu.Lock()
	g.everDesc = true
	if c.fresh {
		// The fresh token was accepted: the role is fulfilled. The
		// connection itself keeps its second-strike status (RC-012).
		g.freshRole = false
	}
	g.mu.Unlock()
	c.log.Info("handshaked")
}

// supervise dials, serves and re-dials until ctx ends or the relay is
// revoked. It is the only dialler, so at most one dial runs (RC-005).
func (g *gateway) supervise(ctx context.Context, ready func()) error {
	n := 0
	var once sync.Once
	for {
		g.mu.Lock()
		stop := g.stopping
		fresh := g.freshRole
		g.mu.Unlock()
		if stop || ctx.Err() != nil {
			return nil
		}
		n++
		c, err := g.dial(ctx, n)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// A dial error never settles the fresh-token role (RC-014)
			// and is never revocation (RC-008).
			g.log.Warn("dial failed", "dial", n, "err", err)
			if !g.sleep(ctx, g.nextWait()) {
				return nil
			}
			continue
		}
		c.fresh = fresh
		g.mu.Lock()
		g.cur = c
		g.mu.Unlock()
		g.log.Info("connected", "dial", n, "fresh_token_role", fresh)
		go func() {
			select {
			case <-c.handshaked:
				once.Do(ready)
			case <-c.done:
			}
		}()
		e := c.run()
		g.mu.Lock()
		g.cur = nil
		stop = g.stopping
		if e.gotDesc && e.at.Sub(e.firstDescAt) >= g.cfg.stableWindow {
			g.attempts = 0 // stayed up long enough (RC-007)
		}
		g.mu.Unlock()
		if stop || ctx.Err() != nil {
			return nil
		}
		switch {
		case e.why == whyDormant:
			// Dormant: back after 1 s, the counter untouched (RC-016).
			if !g.sleep(ctx, time.Second) {
				return nil
			}
		case e.code == 4401 && (e.reason != "expired" || g.dev == devExpiredCountsAsStrike):
			g.mu.Lock()
			switch {
			case c.fresh:
				g.mu.Unlock()
				g.log.Error("4401 on the fresh-token connection: revoked", "reason", e.reason)
				return errRevoked
			case g.everDesc:
				g.freshRole = true
				g.mu.Unlock()
				g.log.Warn("first 4401 after a handshake: one immediate re-dial with a fresh token", "reason", e.reason)
				continue
			}
			g.mu.Unlock()
			// Before any descriptor: a cold-start race (RC-010).
			if !g.sleep(ctx, g.nextWait()) {
				return nil
			}
		default:
			// Every other close, 4401 "expired" included, is retried
			// with backoff (RC-004, RC-013).
			if !g.sleep(ctx, g.nextWait()) {
				return nil
			}
		}
	}
}

// nextWait advances the attempt counter and draws the wait before the next
// attempt uniformly from [d/2, d], d = min(base·2^(n−1), cap) (RC-006),
// from crypto/rand at microsecond resolution.
func (g *gateway) nextWait() time.Duration {
	g.mu.Lock()
	g.attempts++
	n := g.attempts
	g.mu.Unlock()
	base, cap := g.cfg.backoffBase, g.cfg.backoffCap
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < cap; i++ {
		d *= 2
	}
	if d > cap {
		d = cap
	}
	if g.dev == devLadderWithoutJitter {
		return d
	}
	lo := d / 2
	span := uint64((d - lo) / time.Microsecond)
	var b [8]byte
	_, _ = rand.Read(b[:])
	return lo + time.Duration(binary.LittleEndian.Uint64(b[:])%(span+1))*time.Microsecond
}

// sleep waits d or until ctx ends; false when ctx ended.
func (g *gateway) sleep(ctx context.Context, d time.Duration) bool {
	g.log.Info("waiting before the next dial", "wait", d.Round(time.Millisecond))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// goDormant suspends: going_idle, and only once going_idle_ack arrived a
// close 1000 after which the supervisor re-dials in 1 s (IDLE-019,
// RC-016). Without the ack lantern stays connected.
func (g *gateway) goDormant() bool {
	g.dormantMu.Lock()
	defer g.dormantMu.Unlock()
	c := g.current()
	if c == nil {
		return false
	}
	if !c.goIdle(g.cfg.goIdleTimeout) {
		g.log.Warn("going_idle not acknowledged; staying connected")
		return false
	}
	g.log.Info("going dormant")
	c.closeWith(1000, "dormant", whyDormant)
	return true
}

// shutdown goes idle (waiting up to 1.5 s for the ack), runs beforeClose
// (which stops the turns), then closes 1000 and stops the supervisor
// (RC-015).
func (g *gateway) shutdown(beforeClose func()) {
	g.mu.Lock()
	g.stopping = true
	c := g.cur
	g.mu.Unlock()
	if c == nil {
		beforeClose()
		return
	}
	if c.goIdle(1500 * time.Millisecond) {
		g.log.Info("going_idle acknowledged; closing")
	} else {
		g.log.Warn("going_idle not acknowledged; closing anyway")
	}
	beforeClose()
	c.closeWith(1000, "lantern stopping", whyShutdown)
	select {
	case <-c.done:
	case <-time.After(6 * time.Second):
	}
}
