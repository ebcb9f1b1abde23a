//go:build !linux

package main

// pageOutBinary is Linux's alone (MADV_PAGEOUT).
func pageOutBinary() (int, error) { return 0, nil }
