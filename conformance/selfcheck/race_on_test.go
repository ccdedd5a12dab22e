//go:build race

package selfcheck

// raceEnabled: the race detector slows the suite process several fold.
const raceEnabled = true
