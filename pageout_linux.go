package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// pageOutBinary asks the kernel to reclaim the pages of the executable's
// read-only mappings (code and read-only data), and returns how many
// bytes of mappings it covered. Most of what the binary maps resident by
// the time the first configuration is live was touched once, at start:
// the init functions of gRPC's, OpenTelemetry's and lego's packages
// (protobuf registrations, tables), the flag and manifest decoders. The
// kernel brings back, on first touch, the pages the proxy goes on using;
// the rest stops counting against the node's memory budget. Writable
// mappings are left alone (MADV_PAGEOUT would write them to swap).
func pageOutBinary() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var spans [][2]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 || string(fields[5]) != exe || bytes.IndexByte(fields[1], 'w') >= 0 {
			continue
		}
		lo, hi, ok := bytes.Cut(fields[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, [2]uint64{start, end})
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	total := 0
	for _, s := range spans {
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(s[0]), uintptr(s[1]-s[0]), unix.MADV_PAGEOUT)
		if errno != 0 {
			return total, errno
		}
		total += int(s[1] - s[0])
	}
	return total, nil
}
