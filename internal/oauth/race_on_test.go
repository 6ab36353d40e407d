//go:build race

package oauth

// raceSlowdown scales the CPU bounds of the hostile-answer tests: the race
// detector makes the same work several times slower (131 ms measured for an
// answer that takes 8 ms without it).
const raceSlowdown = 20
