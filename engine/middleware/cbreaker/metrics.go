package cbreaker

import (
	"net/http"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The metrics are oxy's memmetrics.RTMetrics with its default windows:
// counters over 10 buckets of one wall-clock second (a request counts
// until the tenth second boundary after it: 9 to 10 s), latencies in a
// rolling HDR histogram of 6 sub-histograms rotated every 10 s (1 µs to
// 1 h, 2 significant figures). There is no minimum sample count: one
// failed request out of one is a ratio of 1 (RequestThreshold() is the way
// to require more).
const (
	counterBuckets       = 10
	histMin              = 1
	histMax              = 3600000000 // 1 hour in microseconds
	histSigFigs          = 2
	histBuckets          = 6
	histPeriod           = 10 * time.Second
	neverUpdated   int64 = -1 << 63
)

// rollingCounter is oxy's RollingCounter: counts per second in a ring of
// buckets; buckets that were not updated since the seconds they stand for
// are cleared lazily.
type rollingCounter struct {
	values      [counterBuckets]int64
	lastUpdated int64 // the second (Unix) of the last increment
}

func newRollingCounter() rollingCounter { return rollingCounter{lastUpdated: neverUpdated} }

func bucketOf(sec int64) int {
	b := sec % counterBuckets
	if b < 0 {
		b += counterBuckets
	}
	return int(b)
}

// cleanup clears the buckets of the seconds after the last update, up
// to now.
func (c *rollingCounter) cleanup(now int64) {
	for i := int64(0); i < counterBuckets; i++ {
		sec := now - i
		if sec <= c.lastUpdated {
			break
		}
		c.values[bucketOf(sec)] = 0
	}
}

func (c *rollingCounter) inc(now int64) {
	c.cleanup(now)
	c.values[bucketOf(now)]++
	c.lastUpdated = now
}

func (c *rollingCounter) count(now int64) int64 {
	c.cleanup(now)
	var n int64
	for _, v := range c.values {
		n += v
	}
	return n
}

func (c *rollingCounter) reset() { *c = newRollingCounter() }

// rollingHistogram is oxy's RollingHDRHistogram: values go into the
// current sub-histogram; when a record comes at least a period after the
// last rotation, the next one (its oldest) is cleared and becomes current
// (one step per record, however long the pause was, as oxy).
type rollingHistogram struct {
	idx      int
	lastRoll time.Time
	buckets  [histBuckets]*hdrhistogram.Histogram
	merged   *hdrhistogram.Histogram // scratch for merged
}

func newRollingHistogram() *rollingHistogram {
	h := &rollingHistogram{merged: hdrhistogram.New(histMin, histMax, histSigFigs)}
	for i := range h.buckets {
		h.buckets[i] = hdrhistogram.New(histMin, histMax, histSigFigs)
	}
	return h
}

func (h *rollingHistogram) record(now time.Time, micros int64) {
	if now.Sub(h.lastRoll) >= histPeriod {
		h.idx = (h.idx + 1) % histBuckets
		h.buckets[h.idx].Reset()
		h.lastRoll = now
	}
	_ = h.buckets[h.idx].RecordValue(micros) // out of range: dropped, as oxy
}

func (h *rollingHistogram) reset(now time.Time) {
	h.idx = 0
	h.lastRoll = now
	for _, b := range h.buckets {
		b.Reset()
	}
}

// valueAtQuantile is the value of the merged sub-histograms at quantile q
// (a percentage, 0 to 100); 0 without values.
func (h *rollingHistogram) valueAtQuantile(q float64) int64 {
	h.merged.Reset()
	for _, b := range h.buckets {
		h.merged.Merge(b)
	}
	return h.merged.ValueAtQuantile(q)
}

// metrics is oxy's RTMetrics, safe for concurrent use.
type metrics struct {
	mu        sync.Mutex
	total     rollingCounter
	netErrors rollingCounter
	codes     map[int]*rollingCounter
	hist      *rollingHistogram // nil unless the expression reads latencies
}

func newMetrics(latency bool) *metrics {
	m := &metrics{total: newRollingCounter(), netErrors: newRollingCounter(), codes: map[int]*rollingCounter{}}
	if latency {
		m.hist = newRollingHistogram()
	}
	return m
}

// record counts one answered request: oxy counts a 502 or a 504 as a
// network error, whoever wrote it.
func (m *metrics) record(now time.Time, code int, latency time.Duration) {
	sec := now.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total.inc(sec)
	if code == http.StatusGatewayTimeout || code == http.StatusBadGateway {
		m.netErrors.inc(sec)
	}
	c := m.codes[code]
	if c == nil {
		c = new(rollingCounter)
		*c = newRollingCounter()
		m.codes[code] = c
	}
	c.inc(sec)
	if m.hist != nil && latency >= 0 {
		m.hist.record(now, int64(latency/time.Microsecond))
	}
}

func (m *metrics) reset(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total.reset()
	m.netErrors.reset()
	for _, c := range m.codes {
		c.reset()
	}
	if m.hist != nil {
		m.hist.reset(now)
	}
}

func (m *metrics) networkErrorRatio(now time.Time) float64 {
	sec := now.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	total := m.total.count(sec)
	if total == 0 {
		return 0
	}
	return float64(m.netErrors.count(sec)) / float64(total)
}

// responseCodeRatio is count(startA <= code < endA) / count(startB <=
// code < endB), 0 when the divisor is 0.
func (m *metrics) responseCodeRatio(now time.Time, startA, endA, startB, endB int) float64 {
	sec := now.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	var a, b int64
	for code, c := range m.codes {
		if code >= startA && code < endA {
			a += c.count(sec)
		}
		if code >= startB && code < endB {
			b += c.count(sec)
		}
	}
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (m *metrics) totalCount(now time.Time) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total.count(now.Unix())
}

// latencyAtQuantile is the latency at quantile q over the histogram's
// window.
func (m *metrics) latencyAtQuantile(q float64) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hist == nil {
		return 0
	}
	return time.Duration(m.hist.valueAtQuantile(q)) * time.Microsecond
}
