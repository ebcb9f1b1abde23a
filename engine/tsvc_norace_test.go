//go:build !race

package engine

// mirrorRequests is the number of requests TestMirrorPercent sends.
const mirrorRequests = 10000
