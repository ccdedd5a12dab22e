// Package testkit holds the few helpers every test binary of this module
// shares: one bound for waits, one epoch for manual clocks, and waits that
// end on an event or fail at a deadline.
//
// Waits in this module's tests end on events, never on the bound, unless
// something is broken: the bound only decides how long a broken test takes
// to say so. It is therefore the same everywhere, generous enough for a
// loaded 2-core CI machine running -race, and never an assertion about
// speed. Tests that start a browser or a child process use [SlowWait].
//
// The package imports nothing of this module, so any test may use it
// without bending the layering.
package testkit
