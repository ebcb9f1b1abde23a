package main

import (
	"context"
	"log/slog"

	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch"
)

// startACME runs the certificate resolvers of the static configuration
// (none: nil). Their stored certificates are loaded before the first
// configuration applies; orders wait for Serving, once the entry points
// listen. With the cluster provider, resolvers without an explicit
// storage keep their state in Secrets of edgeroute's namespace and order
// one replica at a time; the others keep Traefik's acme.json file.
func startACME(ctx context.Context, static *engine.Static, srv *engine.Server, log *slog.Logger) (*acme.Manager, error) {
	if len(static.CertResolvers) == 0 {
		return nil, nil
	}
	var shared *k8swatch.ACMEStore
	opts := acme.Options{Log: log, OnChange: srv.RefreshCertificates}
	if static.KubernetesCRD {
		opts.Store = func(c *acme.Config) (acme.Store, error) {
			if c.StorageSet {
				return nil, nil // the file it names
			}
			if shared == nil {
				var err error
				if shared, err = k8swatch.NewACMEStore(kubeOptions(static), k8swatch.Namespace(), log); err != nil {
					return nil, err
				}
				log.Info("ACME certificates are kept in Secrets", "namespace", shared.Namespace(), "identity", shared.Identity())
			}
			return shared, nil
		}
	}
	m, err := acme.NewManager(static.CertResolvers, opts)
	if err != nil {
		return nil, err
	}
	srv.SetACME(m)
	if shared != nil {
		go shared.Run(ctx, m.Reload)
	}
	return m, m.Run(ctx)
}
