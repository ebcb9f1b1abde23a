//go:build race

package middleware

// zrace tells tests that the race detector is on (it slows streaming
// tens of times).
const zrace = true
