//go:build !race

package middleware

const zrace = false
