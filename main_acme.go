package main

import (
	"context"
	"log/slog"

	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/engine"
)

// startACME runs the certificate resolvers of the static configuration
// (none: nil). Their stored certificates are loaded before the first
// configuration applies; orders wait for Serving, once the entry points
// listen.
func startACME(ctx context.Context, static *engine.Static, srv *engine.Server, log *slog.Logger) (*acme.Manager, error) {
	if len(static.CertResolvers) == 0 {
		return nil, nil
	}
	m, err := acme.NewManager(static.CertResolvers, acme.Options{Log: log, OnChange: srv.RefreshCertificates})
	if err != nil {
		return nil, err
	}
	srv.SetACME(m)
	return m, m.Run(ctx)
}
