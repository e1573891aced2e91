//go:build !race

package resolver

// raceEnabled says whether the race detector, which inflates memory, is on.
const raceEnabled = false
