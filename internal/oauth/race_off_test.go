//go:build !race

package oauth

// raceSlowdown scales the CPU bounds of the hostile-answer tests: 1 without
// the race detector.
const raceSlowdown = 1
