package simulator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

func TestFaultDropOutbound(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	if _, err := s.AddFault(simulator.Fault{GatewayID: "gw1", Direction: simulator.DirOut, FrameTypes: []string{contract.TypeInbound}, Drop: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	inject(t, s, "gw1", event("discord", "c", "lost"))
	inject(t, s, "gw1", event("discord", "c", "kept"))
	if got := eventText(t, g.expect(contract.TypeInbound)); got != "kept" {
		t.Fatal(got)
	}
	if f := s.Faults(); len(f) != 1 || f[0].Hits != 1 {
		t.Fatalf("%+v", f)
	}
}

func TestFaultDropInbound(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	s.AddFault(simulator.Fault{Direction: simulator.DirIn, FrameTypes: []string{contract.TypeHello}, Drop: true, Times: 1})
	g.send(contract.Hello{Platform: "discord"})
	g.expectQuiet() // the hello never arrived
	g.hello("discord")
}

func TestFaultDelay(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	s.AddFault(simulator.Fault{Direction: simulator.DirOut, FrameTypes: []string{contract.TypeInbound}, Delay: 3 * time.Second})
	s.AddFault(simulator.Fault{Direction: simulator.DirIn, FrameTypes: []string{contract.TypeGoingIdle}, Delay: 5 * time.Second})
	inject(t, s, "gw1", event("discord", "c", "late"))
	g.send(contract.GoingIdle{})
	g.expectQuiet()
	waitManualTimers(t, m, 2)
	m.Advance(3 * time.Second)
	if got := eventText(t, g.expect(contract.TypeInbound)); got != "late" {
		t.Fatal(got)
	}
	g.expectQuiet()
	m.Advance(2 * time.Second)
	g.expect(contract.TypeGoingIdleAck)
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	hits := func() []int {
		s := start(t, simulator.Options{})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
		g := dialGW(t, s, "gw1")
		g.hello("discord")
		s.AddFault(simulator.Fault{Direction: simulator.DirOut, FrameTypes: []string{contract.TypeInbound}, Drop: true, Probability: 0.5, Seed: 42})
		for i := 0; i < 40; i++ {
			inject(t, s, "gw1", event("discord", "c", fmt.Sprint(i)))
		}
		var got []int
		for _, f := range g.barrier() {
			var n int
			fmt.Sscan(eventText(t, f), &n)
			got = append(got, n)
		}
		return got
	}
	a, b := hits(), hits()
	if len(a) == 0 || len(a) == 40 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("delivered %v then %v", a, b)
	}
}

func TestStopPongs(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	if err := g.conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	cancel()
	s.StopPongs("gw1", true)
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.conn.Ping(ctx); err == nil {
		t.Fatal("pong received after StopPongs")
	}
}

func TestAddFaultValidation(t *testing.T) {
	s := start(t, simulator.Options{})
	for _, f := range []simulator.Fault{{}, {Drop: true, Direction: "sideways"}, {Drop: true, Probability: 2}} {
		if _, err := s.AddFault(f); err == nil {
			t.Errorf("fault %+v accepted", f)
		}
	}
}
