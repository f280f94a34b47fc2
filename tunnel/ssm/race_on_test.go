//go:build race

package ssm

// raceEnabled shrinks the bulk transfers under the race detector.
const raceEnabled = true
