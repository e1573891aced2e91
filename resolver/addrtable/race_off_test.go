//go:build !race

package addrtable

// raceEnabled says whether the race detector, which inflates memory, is on.
const raceEnabled = false
