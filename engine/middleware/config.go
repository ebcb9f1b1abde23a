package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Configuration types shared by several kinds.

// Duration is a duration as Traefik's CRD writes one (an IntOrString): a
// number of seconds, or a Go duration string ("1.5s", "100ms"; a bare
// number in a string is seconds too).
type Duration time.Duration

// UnmarshalJSON reads a number of seconds or a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := spec.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %v", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration %s: want seconds or a duration string", b)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// StatusRanges is a list of HTTP statuses and ranges ("500-599", "404"),
// as the errors and retry kinds take them.
type StatusRanges [][2]int

// ParseStatusRanges reads Traefik's status list syntax.
func ParseStatusRanges(list []string) (StatusRanges, error) {
	var out StatusRanges
	for _, s := range list {
		// As Traefik: "500-599", or one status; parts after a second '-'
		// are ignored ("500-502-504" is 500-502).
		parts := strings.Split(s, "-")
		if len(parts) == 1 {
			parts = append(parts, parts[0])
		}
		a, err := strconv.Atoi(parts[0])
		if err != nil {
			return nil, fmt.Errorf("status %q: not a status or a range", s)
		}
		b, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, fmt.Errorf("status %q: not a status or a range", s)
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

// Contains reports whether status is in one of the ranges.
func (r StatusRanges) Contains(status int) bool {
	for _, x := range r {
		if x[0] <= status && status <= x[1] {
			return true
		}
	}
	return false
}
