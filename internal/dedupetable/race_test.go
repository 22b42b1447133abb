//go:build race

package dedupetable

// raceEnabled: the race detector makes claims ten times slower, so the
// largest tests shrink under it.
const raceEnabled = true
