//go:build race

package soak

// raceEnabled builds the relaysim child with the race detector when the
// tests run with it, so a race in relaysim fails the soak too.
const raceEnabled = true
