package adapter

import "github.com/relaykit/relaykit/internal/deviation"

// The adapter's deviations (internal/deviation, component adapter) make it
// break one rule each on purpose (count code points where utf16 is
// advertised, ignore supported_ops, edit without supports_edit, skip
// metadata stamping, answer other processes' prompts, mint long prompt ids,
// send media_kind file), so the gateway conformance suite can prove its
// checks catch those bugs. Within this module they are set on Options with
// deviation.Apply; they are not exported, so no user of the package needs
// to read past them or can turn one on by accident.

func init() {
	deviation.Register(func(o *Options, s deviation.Set) error {
		if err := s.Check(deviation.Adapter); err != nil {
			return err
		}
		o.deviations = s
		return nil
	})
}

func (g *Gateway) deviates(d deviation.ID) bool { return g.opts.deviations.Has(d) }
