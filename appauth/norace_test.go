//go:build !race

package appauth

const raceEnabled = false
