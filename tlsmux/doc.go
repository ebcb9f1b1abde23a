// Package tlsmux terminates TLS for edgeroute's entry points. It reproduces
// the observable behaviour of Traefik v3's TLS handling while keeping the
// handshake path lock-free:
//
//   - [Split] serves TLS and plain HTTP on one port: the first byte of each
//     connection decides (0x16, a TLS handshake record, goes to the TLS
//     side).
//   - [Store] picks the certificate by SNI (exact SAN, then a one-label
//     wildcard SAN, then the default certificate) and the TLS options by
//     SNI (host → options name, else the options named "default").
//
// The package is data plane: it knows nothing about Kubernetes. The control
// plane compiles CRDs into a [Config] and installs it with [Store.Swap]
// (which may allocate and is not on the handshake path); each handshake
// loads one immutable snapshot with an atomic load, so a swap never disturbs
// a handshake in progress.
//
// A typical entry point looks like this:
//
//	store, _ := tlsmux.NewStore()
//	_ = store.Swap(cfg) // and again on every configuration change
//	tlsRaw, plain := tlsmux.Split(ln, 10*time.Second)
//	go fasthttpServer.Serve(tlsmux.NewTLSListener(tlsRaw, store))
//	go fasthttpServer.Serve(plain)
//
// For the domain-fronting check (Traefik answers 421 Misdirected Request
// when the Host header and the SNI select different TLS options), compare
// [Store.OptionsFor] of both names.
package tlsmux
