//go:build race

package simulator_test

// raceEnabled: the race detector makes every byte a frame carries cost
// about a hundred times more, so the heaviest tests move less data.
const raceEnabled = true
