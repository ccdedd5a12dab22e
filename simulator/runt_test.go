package simulator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/simulator"
)

func TestRunT(t *testing.T) {
	var s *simulator.Server
	t.Run("test", func(t *testing.T) {
		s = simulator.RunT(t, simulator.Options{Platforms: []string{"telegram"}})
		if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
			t.Fatalf("URL %s, want loopback", s.URL())
		}
		if info, err := s.ControlClient().Info(context.Background()); err != nil || len(info.Platforms) != 1 {
			t.Fatalf("%+v %v", info, err)
		}
	})
	// The subtest's cleanup closed it.
	if _, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "late"}); !errors.Is(err, simulator.ErrClosed) {
		t.Fatalf("after the test: %v, want ErrClosed", err)
	}
}

// recorder is a Tester that records instead of failing, to see RunT fail.
type recorder struct {
	fatal    string
	cleanups []func()
}

func (r *recorder) Helper()                      {}
func (r *recorder) Errorf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }
func (r *recorder) Cleanup(f func())             { r.cleanups = append(r.cleanups, f) }

func TestRunTFailsTheTest(t *testing.T) {
	for _, tc := range []struct {
		opts []simulator.Options
		want string
	}{
		{[]simulator.Options{{}, {}}, "got 2 Options"},
		{[]simulator.Options{{Addr: "127.0.0.1:-1"}}, "simulator.RunT: failed to"},
	} {
		r := &recorder{}
		if s := simulator.RunT(r, tc.opts...); s != nil || !strings.Contains(r.fatal, tc.want) || len(r.cleanups) != 0 {
			t.Errorf("%+v: server %v, fatal %q, %d cleanups", tc.opts, s, r.fatal, len(r.cleanups))
		}
	}
}

// RunT in a test of your own: a simulator on a loopback port, closed when
// the test ends.
func ExampleRunT() {
	var t *testing.T // the *testing.T of your test function
	s := simulator.RunT(t, simulator.Options{Platforms: []string{"telegram"}})
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-test"})
	fmt.Println(s.RelayURL(), gw.GatewayID) // point the gateway under test here
}
