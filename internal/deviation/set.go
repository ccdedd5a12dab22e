package deviation

import (
	"fmt"
	"math/bits"
)

// Set is a set of deviations, one bit per ID; the zero value holds none.
// Implementations read it on hot paths, where a conforming run (the empty
// set) must cost one comparison.
type Set uint64

// NewSet returns the set holding ids.
func NewSet(ids ...ID) Set {
	var s Set
	for _, id := range ids {
		s = s.With(id)
	}
	return s
}

// Has reports whether id is in s.
func (s Set) Has(id ID) bool { return s&(1<<id) != 0 }

// With returns s with id added.
func (s Set) With(id ID) Set { return s | 1<<id }

// IDs lists the members of s in registry order.
func (s Set) IDs() []ID {
	out := make([]ID, 0, bits.OnesCount64(uint64(s)))
	for id := ID(0); id < count; id++ {
		if s.Has(id) {
			out = append(out, id)
		}
	}
	return out
}

// Names lists the names of the members of s in registry order; never nil,
// so it encodes as a JSON array.
func (s Set) Names() []string {
	out := []string{}
	for _, id := range s.IDs() {
		out = append(out, id.Name())
	}
	return out
}

// Only returns the members of s that belong to c.
func (s Set) Only(c Component) Set {
	var out Set
	for _, id := range s.IDs() {
		if registry[id].Component == c {
			out = out.With(id)
		}
	}
	return out
}

// Check fails when s holds a deviation that is not c's, or a bit the
// registry does not know: a component must not silently ignore a switch
// meant for another.
func (s Set) Check(c Component) error {
	if s>>count != 0 {
		return fmt.Errorf("deviation: unknown deviation bits %#x", uint64(s>>count<<count))
	}
	for _, id := range s.IDs() {
		if registry[id].Component != c {
			return fmt.Errorf("deviation %s is not a %s deviation", id, c)
		}
	}
	return nil
}
