//go:build race

package soak

// raceEnabled: the race detector slows the pipeline about tenfold.
const raceEnabled = true
