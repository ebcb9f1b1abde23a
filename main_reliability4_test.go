package main

// The reliability matrix, continued: bounded memory on huge bodies
// (docs/reliability.md §A1.2 L4, L5).

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestBoundedMemoryOneGiB is §A1.2 L4/L5: a 1 GiB request body and a 1 GiB
// response body stream through the proxy with its RSS (VmRSS) staying
// under 200 MiB above where it started.
func TestBoundedMemoryOneGiB(t *testing.T) {
	const size = 1 << 30
	sink := faultBackend(t, func(c *net.TCPConn, br *bufio.Reader) {
		n, _ := io.CopyN(io.Discard, br, size)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(strconv.FormatInt(n, 10)))+"\r\n\r\n"+strconv.FormatInt(n, 10))
	})
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"sink": sink, "whoami-a": pa}, "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r, namespace: default}\nspec:\n  routes:\n"+
		"    - match: PathPrefix(`/up`)\n      services: [{name: sink, port: 80}]\n    - match: PathPrefix(`/data`)\n      services: [{name: whoami-a, port: 80}]\n")
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir)
	base := "http://" + p.address(t)
	pid := p.cmd.Process.Pid
	before := rssKB(pid)
	var peak atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if kb := int64(rssKB(pid)); kb > peak.Load() {
					peak.Store(kb)
				}
			}
		}
	}()
	req, _ := http.NewRequest("POST", base+"/up", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != strconv.Itoa(size) {
		t.Fatalf("upload: %d %q", resp.StatusCode, b)
	}
	resp, err = client.Get(base + "/data?size=" + strconv.Itoa(size))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	t.Logf("proxy RSS %d KiB before, peak %d KiB over 1 GiB up and 1 GiB down", before, peak.Load())
	if grew := peak.Load() - int64(before); grew > 200<<10 {
		t.Errorf("proxy RSS grew by %d KiB: a body is being buffered", grew)
	}
}
