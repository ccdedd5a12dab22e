package soak

import (
	"context"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/internal/deviation"
)

var (
	soakDuration  = flag.Duration("soak.duration", 5*time.Second, "how long the soak injects faults and traffic")
	soakSeed      = flag.Int64("soak.seed", 1, "seed of the soak's event and fault schedule")
	soakGateways  = flag.Int("soak.gateways", 8, "how many gateways the soak runs")
	soakKillEvery = flag.Duration("soak.kill-every", 10*time.Second, "mean gap between SIGKILLs of the relaysim child process; 0 runs relaysim in process, restarted gracefully")
	soakStall     = flag.Duration("soak.stall-every", 20*time.Second, "mean gap between episodes of a gateway that stops reading; negative: none")
	soakAbuse     = flag.Duration("soak.abuse-every", abuseEveryDefault(), "mean gap between bursts of the abusive gateway (default 4s, 8s under -race); negative: none")
)

// abuseEveryDefault halves the abuser's rate under the race detector,
// where every byte of its megabyte frames costs relaysim's child about a
// hundred times more, so the CI run keeps its pace of events.
func abuseEveryDefault() time.Duration {
	if raceEnabled {
		return 8 * time.Second
	}
	return 4 * time.Second
}

// buildRelaysim builds cmd/relaysim once per test binary, with the race
// detector when the tests have it.
var buildRelaysim = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "soak-relaysim-")
	if err != nil {
		return "", err
	}
	builtDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return BuildRelaysim(ctx, dir, raceEnabled)
})

// builtDir holds the built binary; TestMain removes it.
var builtDir string

// RemoveBuiltRelaysim removes the binary buildRelaysim built; TestMain
// calls it after the tests.
func RemoveBuiltRelaysim() {
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}

func relaysimBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildRelaysim()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestSoak runs the chaos soak with relaysim as a child process that is
// killed with SIGKILL every -soak.kill-every on average. CI runs it for
// 60 s with -race:
//
//	go test -race -run TestSoak ./soak/ -soak.duration=60s
//
// and the long run is by hand:
//
//	go test -run TestSoak ./soak/ -soak.duration=10m -timeout 15m
func TestSoak(t *testing.T) {
	cfg := Config{
		Duration:  *soakDuration,
		Seed:      *soakSeed,
		Gateways:  *soakGateways,
		Dir:       t.TempDir(),
		Logf:      t.Logf,
		KillEvery: *soakKillEvery,

		StallEvery: *soakStall,
		AbuseEvery: *soakAbuse,
	}
	if cfg.KillEvery > 0 {
		cfg.Relaysim = relaysimBinary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *soakDuration+3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	for _, v := range rep.Violations {
		t.Error(v)
	}
	if rep.Injected == 0 || rep.Buffered == 0 || rep.Restarts+sum(rep.Kills) == 0 || rep.Calls.Total == 0 {
		t.Errorf("the soak exercised too little to mean anything: %d events (%d buffered), %d restarts, %d kills, %d calls",
			rep.Injected, rep.Buffered, rep.Restarts, sum(rep.Kills), rep.Calls.Total)
	}
	if cfg.KillEvery > 0 && sum(rep.Kills) == 0 {
		t.Errorf("no relaysim process was killed")
	}
	// An episode can take half a minute to come and be closed, and every
	// other one lets kills strike it: a minute holds a guarded one.
	if cfg.StallEvery > 0 && cfg.Duration >= time.Minute && sum(rep.Stall.Closed) == 0 {
		t.Errorf("no stalled reader was closed 1011 by relaysim: %+v", rep.Stall)
	}
	if cfg.AbuseEvery > 0 && cfg.Duration >= 30*time.Second && sum(rep.Abuse.Bursts) == 0 {
		t.Errorf("the abusive gateway sent no burst")
	}
}

// TestSoakCatches proves the soak's invariants bite: each deviation breaks
// one promise, and a short soak against it must report a violation.
func TestSoakCatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several short soaks")
	}
	for _, tc := range []struct {
		name  string
		devs  deviation.Set
		kills bool // relaysim as a child process, killed with SIGKILL
		want  []string
	}{
		// The connector replays acked entries on every drain: the journal
		// shows it, and so do the gateways' own sockets.
		{name: "redeliver-acked", devs: deviation.NewSet(deviation.SimRedeliverAcked),
			want: []string{"redelivered", "IDLE-010 (gateway ledger)"}},
		// The same with relaysim killed now and then: journals die with
		// the process, the gateway ledger still sees it.
		{name: "redeliver-acked with kills", devs: deviation.NewSet(deviation.SimRedeliverAcked), kills: true,
			want: []string{"IDLE-010 (gateway ledger)"}},
		// The connector forgets entries as it sends them, so a crashed
		// handler's event is gone, and live events overtake entries the
		// gateway never acked.
		{name: "replay-not-ack-gated", devs: deviation.NewSet(deviation.SimReplayNotAckGated),
			want: []string{"lost", "IDLE-012 (gateway ledger)"}},
		// The gateway acks before its handler admitted the event.
		{name: "ack-before-handler", devs: deviation.NewSet(deviation.ClientAckBeforeHandler),
			want: []string{"without being admitted", "IDLE-013 (gateway ledger)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{
				Duration: 3 * time.Second, Seed: 7, Gateways: 4, Dir: t.TempDir(), Settle: 5 * time.Second,
				// Four of these run at once inside go test ./...: the
				// abuser's megabyte frames would only load the machine
				// other packages' timing tests share.
				StallEvery: -1, AbuseEvery: -1,
			}
			if err := deviation.Apply(&cfg, tc.devs); err != nil {
				t.Fatal(err)
			}
			if tc.devs.Has(deviation.SimRedeliverAcked) {
				// The gateway ledger reports a redelivery only after an
				// ack a live frame confirmed, and the deviation forgets
				// what it replays when the simulator restarts: give it a
				// few drains to show.
				cfg.Duration = 8 * time.Second
			}
			if tc.kills {
				cfg.Relaysim, cfg.KillEvery = relaysimBinary(t), 3*time.Second
			}
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kills && sum(rep.Kills) == 0 {
				t.Errorf("no kill happened")
			}
			for _, want := range tc.want {
				found := 0
				for _, v := range rep.Violations {
					if strings.Contains(v, want) {
						found++
					}
				}
				t.Logf("%d violations mention %q", found, want)
				if found == 0 {
					t.Errorf("the soak missed the %s deviation: no violation mentions %q\n%s\n%s", tc.name, want, rep, strings.Join(rep.Violations, "\n"))
				}
			}
		})
	}
}
