package simulator

// Tester is the part of testing.TB that RunT uses; *testing.T, *testing.B
// and *testing.F satisfy it. It is an interface so that this package does
// not import testing into the binaries that use it.
type Tester interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// RunT starts a simulator for one test, shaped like miniredis.RunT: it
// listens on a free loopback port (Options.Addr, when given, is used
// instead), fails the test with Fatalf when it cannot start, and closes it
// in t.Cleanup, reporting a failed close (a store that did not flush) with
// Errorf. Give at most one Options; the zero Options is the default.
func RunT(t Tester, opts ...Options) *Server {
	t.Helper()
	if len(opts) > 1 {
		t.Fatalf("simulator.RunT: got %d Options, want at most one", len(opts))
		return nil
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("simulator.RunT: %v", err)
		return nil
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("simulator.RunT: close: %v", err)
		}
	})
	return s
}
