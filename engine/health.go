package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/lb"
)

// prober runs the active health check of one server of one service: it
// marks the server's lb.State down or up, which every balancer holding the
// server sees at its next pick.
type prober struct {
	cfg    spec.HealthCheck
	tr     *transport // the service's: its TLS configuration verifies https servers
	target *url.URL
	state  *lb.State
	cancel context.CancelFunc
}

// healthChecks keeps one prober per (service, server) with an active check,
// across reloads: a reload that keeps a check keeps its prober (and the
// server's state); one that drops or changes it stops the old prober.
type healthChecks struct {
	mu     sync.Mutex
	ctx    context.Context
	log    *slog.Logger
	probes map[string]*prober
}

func newHealthChecks(ctx context.Context, log *slog.Logger) *healthChecks {
	return &healthChecks{ctx: ctx, log: log, probes: map[string]*prober{}}
}

// sync starts and stops probers to match the services of snap; ups has
// snap's transports.
func (h *healthChecks) sync(snap *spec.Snapshot, reg *lb.Registry, ups *upstreams) {
	h.mu.Lock()
	defer h.mu.Unlock()
	want := map[string]bool{}
	for name, sv := range snap.Services {
		if sv.LoadBalancer == nil || sv.LoadBalancer.HealthCheck == nil {
			continue
		}
		tr := ups.transportOf(sv.LoadBalancer.ServersTransport)
		if tr == nil {
			continue // the service is not built
		}
		for _, server := range snap.Endpoints[sv.LoadBalancer.EndpointsKey] {
			key := name + " " + server.URL
			want[key] = true
			if p := h.probes[key]; p != nil && reflect.DeepEqual(p.cfg, *sv.LoadBalancer.HealthCheck) && p.tr == tr {
				continue
			}
			if p := h.probes[key]; p != nil {
				p.cancel()
			}
			target, err := url.Parse(server.URL)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithCancel(h.ctx)
			p := &prober{cfg: *sv.LoadBalancer.HealthCheck, tr: tr, target: target, state: reg.State(key), cancel: cancel}
			h.probes[key] = p
			go p.run(ctx, h.log.With("service", name, "server", server.URL))
		}
	}
	for key, p := range h.probes {
		if !want[key] {
			p.cancel()
			delete(h.probes, key)
		}
	}
}

func (p *prober) run(ctx context.Context, log *slog.Logger) {
	check := p.checkGRPC
	if p.cfg.Mode != modeGRPC {
		// As in Traefik, the probe goes through the service's
		// ServersTransport: here its TLS configuration (roots, server
		// name, client certificates).
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: p.cfg.Timeout}).DialContext,
			TLSClientConfig: p.tr.tls.Clone()}}
		if !p.cfg.FollowRedirects {
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		}
		check = func(ctx context.Context) error { return p.check(ctx, client) }
	}
	for {
		err := check(ctx)
		if ctx.Err() != nil {
			return
		}
		if p.state.SetUp(err == nil) {
			if err != nil {
				log.Warn("health check failed: server down", "err", err)
			} else {
				log.Info("health check passed: server up")
			}
		}
		wait := p.cfg.Interval
		if err != nil {
			wait = p.cfg.UnhealthyInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// check is one probe, as Traefik's: the path resolved against the server
// URL, with the scheme, port, Host and headers overridden as configured; any
// 2xx or 3xx status is healthy unless a status is required.
func (p *prober) check(ctx context.Context, client *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	u, err := p.target.Parse(p.cfg.Path)
	if err != nil {
		return err
	}
	if p.cfg.Scheme != "" {
		u.Scheme = p.cfg.Scheme
	}
	if p.cfg.Port != 0 {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(p.cfg.Port))
	}
	req, err := http.NewRequestWithContext(ctx, p.cfg.Method, u.String(), http.NoBody)
	if err != nil {
		return err
	}
	if p.cfg.Hostname != "" {
		req.Host = p.cfg.Hostname
	}
	for k, v := range p.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if p.cfg.Status == 0 && (resp.StatusCode < 200 || resp.StatusCode >= 400) ||
		p.cfg.Status != 0 && resp.StatusCode != p.cfg.Status {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
