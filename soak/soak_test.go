package soak

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/simulator"
)

var (
	soakDuration = flag.Duration("soak.duration", 5*time.Second, "how long the soak injects faults and traffic")
	soakSeed     = flag.Int64("soak.seed", 1, "seed of the soak's event and fault schedule")
	soakGateways = flag.Int("soak.gateways", 8, "how many gateways the soak runs")
)

// TestSoak runs the chaos soak. CI runs it for 60 s with -race:
//
//	go test -race -run TestSoak ./soak/ -soak.duration=60s
//
// and the long run is by hand:
//
//	go test -run TestSoak ./soak/ -soak.duration=10m -timeout 15m
func TestSoak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), *soakDuration+3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Duration: *soakDuration,
		Seed:     *soakSeed,
		Gateways: *soakGateways,
		Dir:      t.TempDir(),
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	for _, v := range rep.Violations {
		t.Error(v)
	}
	if rep.Injected == 0 || rep.Buffered == 0 || rep.Restarts == 0 || rep.Calls.Total == 0 {
		t.Errorf("the soak exercised too little to mean anything: %d events (%d buffered), %d restarts, %d calls",
			rep.Injected, rep.Buffered, rep.Restarts, rep.Calls.Total)
	}
}

// TestSoakCatches proves the soak's invariants bite: each deviation breaks
// one promise, and a short soak against it must report a violation.
func TestSoakCatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several short soaks")
	}
	for _, tc := range []struct {
		name string
		sim  []simulator.Deviation
		gw   []client.Deviation
		want string
	}{
		// The connector replays acked entries on every drain.
		{name: "redeliver-acked", sim: []simulator.Deviation{simulator.DevRedeliverAcked}, want: "redelivered"},
		// The connector forgets entries as it sends them, so a crashed
		// handler's event is gone.
		{name: "replay-not-ack-gated", sim: []simulator.Deviation{simulator.DevReplayNotAckGated}, want: "lost"},
		// The gateway acks before its handler admitted the event.
		{name: "ack-before-handler", gw: []client.Deviation{client.DevAckBeforeHandler}, want: "without being admitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := Run(ctx, Config{
				Duration: 3 * time.Second, Seed: 7, Gateways: 4, Dir: t.TempDir(), Settle: 5 * time.Second,
				SimDeviations: tc.sim, ClientDeviations: tc.gw,
			})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, v := range rep.Violations {
				found = found || strings.Contains(v, tc.want)
			}
			if !found {
				t.Errorf("the soak missed the %s deviation: no violation mentions %q\n%s\n%s", tc.name, tc.want, rep, strings.Join(rep.Violations, "\n"))
			}
		})
	}
}
