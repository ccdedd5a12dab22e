package client

import "github.com/relaykit/relaykit/internal/deviation"

// The client's deviations (internal/deviation, component client) make it
// break one gateway requirement each, the way real gateways have, so the
// gateway conformance suite can prove it catches the bug: the echo gateway
// reads their names from RELAYKIT_DEVIATIONS, and the self-check expects
// exactly the matching cases to fail. Within this module they are set on
// Options with deviation.Apply; they are not exported, so no user of the
// package needs to read past them or can turn one on by accident.

func init() {
	deviation.Register(func(o *Options, s deviation.Set) error {
		if err := s.Check(deviation.Client); err != nil {
			return err
		}
		o.deviations = s
		return nil
	})
}
