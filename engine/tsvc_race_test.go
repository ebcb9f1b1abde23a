//go:build race

package engine

// mirrorRequests is the number of requests TestMirrorPercent sends: fewer
// under the race detector, which slows loopback round trips tenfold.
const mirrorRequests = 2000
