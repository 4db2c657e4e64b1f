//go:build race

package appauth

// raceEnabled: the race detector makes sync.Pool drop pooled values at random, on
// purpose, so allocation counts mean nothing under it.
const raceEnabled = true
