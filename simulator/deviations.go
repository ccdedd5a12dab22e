package simulator

import (
	"fmt"

	"github.com/relaykit/relaykit/internal/deviation"
)

// The simulator's deviations (internal/deviation, component simulator)
// break one connector requirement each, the way some real connector did, so
// the connector conformance suite can prove it catches the bug. They are
// off by default. Within this module they are set with deviation.Apply, on
// Options before New or on a running *Server; from outside, relaysim's
// --deviate flag and the control route POST /_relaysim/deviations take
// their names. The switches are not exported: no user of the package needs
// them, and none can turn one on by accident.

func init() {
	deviation.Register(func(o *Options, s deviation.Set) error {
		if err := s.Check(deviation.Simulator); err != nil {
			return err
		}
		o.deviations = s
		return nil
	})
	deviation.Register(func(srv *Server, s deviation.Set) error { return srv.setDeviations(s) })
}

// deviations returns the active set; read on hot paths without a lock.
func (s *Server) deviations() deviation.Set { return deviation.Set(s.devs.Load()) }

// setDeviations replaces the active deviations; none restores the
// conforming behaviour.
func (s *Server) setDeviations(set deviation.Set) error {
	if err := set.Check(deviation.Simulator); err != nil {
		return err
	}
	s.devs.Store(uint64(set))
	s.note(JournalEntry{Kind: JournalControl, Detail: fmt.Sprintf("deviations set to %v", set.Names())})
	return nil
}

// knownDeviations describes every deviation of the simulator, for GET
// /deviations.
func knownDeviations() []DeviationInfo {
	infos := deviation.Of(deviation.Simulator)
	out := make([]DeviationInfo, len(infos))
	for i, info := range infos {
		out[i] = DeviationInfo{Deviation: info.Name, Requirement: info.Requirement, Behaviour: info.Description}
	}
	return out
}
