//go:build !race

package dedupetable

const raceEnabled = false
