//go:build race

package token

// raceEnabled: the race detector drops sync.Pool entries at random, so
// allocation counts mean nothing under it.
const raceEnabled = true
