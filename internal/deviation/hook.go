package deviation

import "fmt"

// hooks maps a typed nil pointer (*T)(nil), one key per registered type, to
// the function that hands a Set to a *T. Written only by init functions, so
// read without a lock.
var hooks = map[any]func(target any, s Set) error{}

// Register records how Apply hands a set to a *T. The package that declares
// T calls it from an init function, so the set can live in an unexported
// field of T and stay out of the package's documented API. apply must
// reject a set holding deviations that are not the package's (Set.Check).
func Register[T any](apply func(*T, Set) error) {
	key := any((*T)(nil))
	if _, dup := hooks[key]; dup {
		panic(fmt.Sprintf("deviation: %T registered twice", key))
	}
	hooks[key] = func(target any, s Set) error { return apply(target.(*T), s) }
}

// Apply hands s to *target: the Options of client, client/adapter or
// simulator before New, a running *simulator.Server, or a soak.Config. The
// set replaces any earlier one; the empty set restores conforming
// behaviour. It fails for a type that takes no deviations and for a set
// the target's component does not have.
func Apply[T any](target *T, s Set) error {
	h, ok := hooks[any((*T)(nil))]
	if !ok {
		return fmt.Errorf("deviation: %T takes no deviations", target)
	}
	return h(target, s)
}
