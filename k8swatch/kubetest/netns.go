//go:build linux

package kubetest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// NetNS is a test host: a network namespace joined to the host by a veth
// pair. The host end has 198.18.X.1/24; the namespace end, eth0, has the
// addresses that Addr hands out, and lo is up. Close removes it.
type NetNS struct {
	// Name is the namespace's name under /run/netns (`ip netns`).
	Name string
	// HostIf is the host end of the veth pair.
	HostIf string

	x byte // the third octet: 198.18.x.0/24

	mu        sync.Mutex
	addrs     map[int]bool
	listeners []net.Listener
	closed    bool
}

var netnsSeq atomic.Int64

// NewNetNS creates a network namespace on a /24 of 198.18.0.0/15 that no
// interface of the host overlaps yet, with Addr(1) already assigned. It needs
// root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip command, and fails
// with an error saying so otherwise. Namespaces that crashed test processes
// left behind are removed first.
func NewNetNS() (*NetNS, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("kubetest: network namespaces need the ip command (iproute2): %w", err)
	}
	// The lock keeps parallel test processes from picking the same subnet: it
	// is held until the host end of the veth pair has its address.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "edgeroute-netns.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	defer lock.Close() // releases the lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("kubetest: locking %s: %w", lock.Name(), err)
	}
	removeStaleNetNS()
	x, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	pid := os.Getpid()
	ns := &NetNS{
		Name:   fmt.Sprintf("edgeroute-%d-%d", pid, netnsSeq.Add(1)),
		HostIf: fmt.Sprintf("ert%d-%d", x, pid), // at most 14 bytes; the limit is 15
		x:      x,
		addrs:  map[int]bool{},
	}
	if err := ip("netns", "add", ns.Name); err != nil {
		return nil, fmt.Errorf("kubetest: creating a network namespace needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN: %w", err)
	}
	steps := [][]string{
		{"link", "add", ns.HostIf, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
		{"addr", "add", ns.HostAddr().String() + "/24", "dev", ns.HostIf},
		{"link", "set", ns.HostIf, "up"},
		{"-n", ns.Name, "link", "set", "lo", "up"},
		{"-n", ns.Name, "link", "set", "eth0", "up"},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			_ = ns.Close()
			return nil, fmt.Errorf("kubetest: %w", err)
		}
	}
	if err := ns.addAddr(1); err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	return ns, nil
}

// HostAddr is the host's address on the namespace's subnet, 198.18.X.1.
func (ns *NetNS) HostAddr() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, ns.x, 1}) }

// Addr returns the namespace's i-th address, 198.18.X.(i+1) for i from 1 to
// 253, and assigns it to the namespace's eth0 on first use. It panics when i
// is out of range or the address cannot be assigned.
func (ns *NetNS) Addr(i int) netip.Addr {
	if err := ns.addAddr(i); err != nil {
		panic("kubetest: " + err.Error())
	}
	return netip.AddrFrom4([4]byte{198, 18, ns.x, byte(i + 1)})
}

func (ns *NetNS) addAddr(i int) error {
	if i < 1 || i > 253 {
		return fmt.Errorf("NetNS.Addr(%d): want 1 to 253", i)
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.addrs[i] {
		return nil
	}
	a := netip.AddrFrom4([4]byte{198, 18, ns.x, byte(i + 1)})
	if err := ip("-n", ns.Name, "addr", "add", a.String()+"/24", "dev", "eth0"); err != nil {
		return err
	}
	ns.addrs[i] = true
	return nil
}

// Listen is net.Listen inside the namespace, for example
// ns.Listen("tcp", netip.AddrPortFrom(ns.Addr(1), 8080).String()). The
// listener stays in the namespace, so any goroutine can serve on it; Close
// closes it too.
func (ns *NetNS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	var lerr error
	if err := ns.do(func() { l, lerr = net.Listen(network, address) }); err != nil {
		if l != nil {
			l.Close()
		}
		return nil, err
	}
	if lerr != nil {
		return nil, lerr
	}
	ns.mu.Lock()
	ns.listeners = append(ns.listeners, l)
	ns.mu.Unlock()
	return l, nil
}

// do runs f on an OS thread that has joined the namespace. Sockets that f
// creates belong to the namespace for good.
func (ns *NetNS) do(f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("kubetest: opening this thread's network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join("/run/netns", ns.Name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("kubetest: opening network namespace %s: %w", ns.Name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("kubetest: entering network namespace %s: %w", ns.Name, err)
			return
		}
		f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread is stuck in the namespace. It stays locked, so the
			// runtime ends it with this goroutine instead of reusing it.
			errc <- fmt.Errorf("kubetest: leaving network namespace %s: %w", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

// Close closes the listeners made by Listen and deletes the veth pair and the
// namespace.
func (ns *NetNS) Close() error {
	ns.mu.Lock()
	ls, closed := ns.listeners, ns.closed
	ns.listeners, ns.closed = nil, true
	ns.mu.Unlock()
	if closed {
		return nil
	}
	for _, l := range ls {
		_ = l.Close()
	}
	// Deleting one end of a veth pair deletes both. Do it explicitly: a socket
	// still open in the namespace would keep it, and the pair, alive.
	var errs []error
	if _, err := net.InterfaceByName(ns.HostIf); err == nil {
		errs = append(errs, ip("link", "del", ns.HostIf))
	}
	errs = append(errs, ip("netns", "del", ns.Name))
	return errors.Join(errs...)
}

// freeSubnet picks X in 1..254 such that no address of the host lies in, or
// has a prefix that overlaps, 198.18.X.0/24.
func freeSubnet() (byte, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, fmt.Errorf("kubetest: %w", err)
	}
	var used []netip.Prefix
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if addr, ok := netip.AddrFromSlice(ipn.IP); ok {
				ones, _ := ipn.Mask.Size()
				used = append(used, netip.PrefixFrom(addr.Unmap(), ones))
			}
		}
	}
next:
	for x := 1; x <= 254; x++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(x), 0}), 24)
		for _, u := range used {
			if u.Overlaps(p) {
				continue next
			}
		}
		return byte(x), nil
	}
	return 0, errors.New("kubetest: every 198.18.X.0/24 is in use")
}

// removeStaleNetNS deletes namespaces, and their veth pairs, whose creating
// process no longer exists (a test that panicked or timed out).
func removeStaleNetNS() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "edgeroute-")
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if processExists(pid) { // or a reused pid: leave it alone
			continue
		}
		_ = ip("netns", "del", e.Name())
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if strings.HasPrefix(i.Name, "ert") && strings.HasSuffix(i.Name, "-"+pid) {
				_ = ip("link", "del", i.Name)
			}
		}
	}
}

// ip runs the ip command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
