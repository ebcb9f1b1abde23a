package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// runWhoami is `edgeroute whoami --address ADDR [--name NAME]`: a small
// diagnostic backend, like traefik/whoami. It answers every request with the
// request it received (after ?wait=DURATION), streams /data?size=N bytes,
// and echoes WebSocket messages on /ws.
func runWhoami(args []string) int {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	addr := fs.String("address", ":8081", "listen address")
	name := fs.String("name", "", "name to report (default: the hostname)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "whoami %s listening on %s\n", *name, ln.Addr())
	if err := http.Serve(ln, whoamiHandler(*name)); err != nil {
		fmt.Fprintln(os.Stderr, "whoami:", err)
		return 1
	}
	return 0
}

func whoamiHandler(name string) http.Handler {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			t, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(t, msg); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/data", func(w http.ResponseWriter, r *http.Request) {
		var size int64
		fmt.Sscan(r.URL.Query().Get("size"), &size)
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
		for size > 0 {
			n := min(size, int64(len(chunk)))
			if _, err := w.Write(chunk[:n]); err != nil {
				return
			}
			size -= n
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil {
			time.Sleep(d) // ?wait=200ms, as traefik/whoami
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Name: %s\nHostname: %s\n", name, hostname())
		fmt.Fprintf(w, "RemoteAddr: %s\n%s %s %s\nHost: %s\n", r.RemoteAddr, r.Method, r.RequestURI, r.Proto, r.Host)
		var keys []string
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range r.Header[k] {
				fmt.Fprintf(w, "%s: %s\n", k, v)
			}
		}
	})
	return mux
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
