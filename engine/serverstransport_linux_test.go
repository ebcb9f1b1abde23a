package engine

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// blackhole returns a loopback address whose connection attempts hang: a
// socket listening with a backlog of 0 that never accepts, its queue
// filled, so that the kernel drops further SYNs.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				t.Fatalf("filling the backlog: %v", err)
			}
			return addr // full: the next attempts hang too
		}
		t.Cleanup(func() { c.Close() })
		if i > 64 {
			t.Fatal("the backlog does not fill")
		}
	}
}

// dialTimeout bounds connection establishment, on both clients, with
// Traefik's 504.
func TestServersTransportDialTimeout(t *testing.T) {
	addr := blackhole(t)
	for _, scheme := range []string{"http", "https", "h2c"} {
		t.Run(scheme, func(t *testing.T) {
			_, base, _ := serve(t, stSnap(scheme+"://"+addr, withDefaults(spec.ServersTransport{DialTimeout: 50 * time.Millisecond, InsecureSkipVerify: true})))
			if code, body := get(t, base+"/", ""); code != 504 || body != "Gateway Timeout" {
				t.Errorf("dial to a blackhole: %d %q, want 504", code, body)
			}
		})
	}
}
