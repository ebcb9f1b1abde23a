package cbreaker

import (
	"fmt"
	"time"

	"github.com/vulcand/predicate"
)

// The expression language is oxy's (cbreaker/predicates*.go) on
// github.com/vulcand/predicate: a Go expression of function calls,
// comparisons with a literal on the right, && and ||. The types and
// messages are oxy's, and this package is named as oxy's so that the
// errors that print a type ("expected predicate, got
// cbreaker.toType[float64]") read the same.

// hpredicate is a parsed condition.
type hpredicate func(*CircuitBreaker) bool

// toType is a metric read from the breaker.
type toType[T int | int64 | float64] func(c *CircuitBreaker) T

// parseExpression parses in into a condition, and tells whether it reads
// latencies (the histogram is kept only then).
func parseExpression(in string) (hpredicate, bool, error) {
	latency := false
	p, err := predicate.NewParser(predicate.Def{
		Operators: predicate.Operators{
			AND: and,
			OR:  or,
			EQ:  eq,
			NEQ: neq,
			LT:  lt,
			LE:  le,
			GT:  gt,
			GE:  ge,
		},
		Functions: map[string]any{
			"LatencyAtQuantileMS": func(quantile float64) toType[int] {
				latency = true
				return latencyAtQuantile(quantile)
			},
			"NetworkErrorRatio": networkErrorRatio,
			"ResponseCodeRatio": responseCodeRatio,
			"RequestThreshold":  requestThreshold,
		},
	})
	if err != nil {
		return nil, false, err
	}
	out, err := p.Parse(in)
	if err != nil {
		return nil, false, err
	}
	pr, ok := out.(hpredicate)
	if !ok {
		return nil, false, fmt.Errorf("expected predicate, got %T", out)
	}
	return pr, latency, nil
}

func latencyAtQuantile(quantile float64) toType[int] {
	return func(c *CircuitBreaker) int {
		return int(c.metrics.latencyAtQuantile(quantile) / time.Millisecond)
	}
}

func networkErrorRatio() toType[float64] {
	return func(c *CircuitBreaker) float64 { return c.metrics.networkErrorRatio(c.at) }
}

func responseCodeRatio(startA, endA, startB, endB int) toType[float64] {
	return func(c *CircuitBreaker) float64 {
		return c.metrics.responseCodeRatio(c.at, startA, endA, startB, endB)
	}
}

func requestThreshold() toType[int64] {
	return func(c *CircuitBreaker) int64 { return c.metrics.totalCount(c.at) }
}

func or(fns ...hpredicate) hpredicate {
	return func(c *CircuitBreaker) bool {
		for _, fn := range fns {
			if fn(c) {
				return true
			}
		}
		return false
	}
}

func and(fns ...hpredicate) hpredicate {
	return func(c *CircuitBreaker) bool {
		for _, fn := range fns {
			if !fn(c) {
				return false
			}
		}
		return true
	}
}

func not(p hpredicate) hpredicate {
	return func(c *CircuitBreaker) bool { return !p(c) }
}

// The comparisons take a metric on the left and a literal of its type on
// the right (an int for LatencyAtQuantileMS and RequestThreshold, a float
// for the ratios); oxy's messages, "expected int" even for a float.

func eq(m any, value any) (hpredicate, error) {
	switch mapper := m.(type) {
	case toType[int]:
		return compare(mapper, value, func(a, b int) bool { return a == b })
	case toType[int64]:
		return compareInt64(mapper, value, func(a, b int64) bool { return a == b })
	case toType[float64]:
		return compare(mapper, value, func(a, b float64) bool { return a == b })
	}
	return nil, fmt.Errorf("eq: unsupported argument: %T", m)
}

func neq(m any, value any) (hpredicate, error) {
	p, err := eq(m, value)
	if err != nil {
		return nil, err
	}
	return not(p), nil
}

func lt(m any, value any) (hpredicate, error) {
	switch mapper := m.(type) {
	case toType[int]:
		return compare(mapper, value, func(a, b int) bool { return a < b })
	case toType[int64]:
		return compareInt64(mapper, value, func(a, b int64) bool { return a < b })
	case toType[float64]:
		return compare(mapper, value, func(a, b float64) bool { return a < b })
	}
	return nil, fmt.Errorf("lt: unsupported argument: %T", m)
}

func le(m any, value any) (hpredicate, error) {
	l, err := lt(m, value)
	if err != nil {
		return nil, err
	}
	e, err := eq(m, value)
	if err != nil {
		return nil, err
	}
	return func(c *CircuitBreaker) bool { return l(c) || e(c) }, nil
}

func gt(m any, value any) (hpredicate, error) {
	switch mapper := m.(type) {
	case toType[int]:
		return compare(mapper, value, func(a, b int) bool { return a > b })
	case toType[int64]:
		return compareInt64(mapper, value, func(a, b int64) bool { return a > b })
	case toType[float64]:
		return compare(mapper, value, func(a, b float64) bool { return a > b })
	}
	return nil, fmt.Errorf("gt: unsupported argument: %T", m)
}

func ge(m any, value any) (hpredicate, error) {
	g, err := gt(m, value)
	if err != nil {
		return nil, err
	}
	e, err := eq(m, value)
	if err != nil {
		return nil, err
	}
	return func(c *CircuitBreaker) bool { return g(c) || e(c) }, nil
}

func compare[T int | float64](m toType[T], val any, op func(a, b T) bool) (hpredicate, error) {
	value, ok := val.(T)
	if !ok {
		return nil, fmt.Errorf("expected int, got %T", val)
	}
	return func(c *CircuitBreaker) bool { return op(m(c), value) }, nil
}

// compareInt64 compares an int64 metric with an int literal (the parser
// makes every integer literal an int).
func compareInt64(m toType[int64], val any, op func(a, b int64) bool) (hpredicate, error) {
	value, ok := val.(int)
	if !ok {
		return nil, fmt.Errorf("expected int, got %T", val)
	}
	return func(c *CircuitBreaker) bool { return op(m(c), int64(value)) }, nil
}
