package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/lb"
)

// buildOne builds the service name of snap (without its own middlewares,
// which build wraps it in), its children through buildService, as
// Traefik's service manager does (BuildHTTP): its checks, in its order and
// with its messages. stack lists the services being built around it,
// outermost first.
func buildOne(name string, stack []string, snap *spec.Snapshot, rt *Runtime, ups *upstreams, reg *lb.Registry, elog *errorLog,
	buildService func(string, []string) (service, error), warn func(spec.Problem)) (service, error) {
	def := snap.Services[name]
	if def == nil {
		return nil, fmt.Errorf("service %s does not exist", name)
	}
	kinds := 0
	for _, set := range []bool{def.LoadBalancer != nil, def.Weighted != nil, def.Mirroring != nil, def.Failover != nil, def.HighestRandomWeight != nil} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return nil, errors.New("cannot create service: multi-types service not supported, consider declaring two different pieces of service instead")
	}
	if i := slices.Index(stack, name); i >= 0 {
		chain := make([]string, 0, len(stack)-i+1)
		for _, s := range stack[i:] {
			chain = append(chain, "service:"+s)
		}
		chain = append(chain, "service:"+name)
		return nil, fmt.Errorf("could not instantiate service %s: recursion detected in %s", name, strings.Join(chain, "->"))
	}
	stack = append(slices.Clip(stack), name)
	child := func(n string) (reporter, error) {
		sv, err := buildService(n, stack)
		if err != nil {
			return nil, err
		}
		return sv.(reporter), nil
	}
	// kids builds the children of a weighted or HRW service; with follow
	// (the parent's health check), each must report its status.
	kids := func(list []spec.WeightedService, follow bool) ([]weighted, error) {
		var out []weighted
		for _, c := range list {
			sv, err := child(c.Name)
			if err != nil {
				return nil, err
			}
			if follow {
				if err := sv.canReport(); err != nil {
					return nil, fmt.Errorf("cannot register %s as updater for %s: %w", c.Name, name, err)
				}
			}
			rt.stateKeys[def.Name+" "+c.Name] = true
			out = append(out, weighted{name: c.Name, s: sv, weight: c.Weight})
		}
		return out, nil
	}
	switch {
	case def.LoadBalancer != nil:
		servers := snap.Endpoints[def.LoadBalancer.EndpointsKey]
		tr := ups.transportOf(def.LoadBalancer.ServersTransport)
		if tr == nil {
			// Traefik: "getting RoundTripper: servers transport not
			// found"; the service, and its routers, are not built.
			return nil, fmt.Errorf("service %s: servers transport not found %s", name, def.LoadBalancer.ServersTransport)
		}
		if tr.disableHTTP2 && slices.ContainsFunc(servers, func(s spec.Server) bool { return strings.HasPrefix(s.URL, "h2c:") }) {
			warn(spec.Problem{Ref: def.Ref, Warning: true, Err: fmt.Errorf(
				"service %s: h2c servers with serversTransport %s, which disables HTTP/2: as in Traefik, their requests fail with 500 (unsupported protocol scheme \"h2c\")", name, tr.name)})
		}
		for _, s := range servers {
			rt.stateKeys[def.Name+" "+s.URL] = true
		}
		lbs := newLBService(def, servers, ups, reg)
		lbs.elog = elog
		rt.lbs[def.LoadBalancer.EndpointsKey] = append(rt.lbs[def.LoadBalancer.EndpointsKey], lbs)
		return lbs, nil
	case def.Weighted != nil:
		children, err := kids(def.Weighted.Services, def.Weighted.HealthCheck)
		if err != nil {
			return nil, err
		}
		return newWeightedService(def, children, reg), nil
	case def.HighestRandomWeight != nil:
		children, err := kids(def.HighestRandomWeight.Services, def.HighestRandomWeight.HealthCheck)
		if err != nil {
			return nil, err
		}
		return newHRWService(def, children, reg), nil
	case def.Mirroring != nil:
		return buildMirroring(def, rt, reg, elog, child)
	case def.Failover != nil:
		return buildFailover(def, child)
	}
	return nil, fmt.Errorf("the service %q does not have any type defined", name)
}

// buildMirroring is Traefik's getMirrorServiceHandler.
func buildMirroring(def *spec.Service, rt *Runtime, reg *lb.Registry, elog *errorLog, child func(string) (reporter, error)) (service, error) {
	cfg := def.Mirroring
	main, err := child(cfg.Service)
	if err != nil {
		return nil, err
	}
	m := &mirrorService{name: def.Name, main: main, mirrorBody: cfg.MirrorBody, maxBody: cfg.MaxBodySize, follow: cfg.HealthCheck, elog: elog}
	for i, mc := range cfg.Mirrors {
		sv, err := child(mc.Name)
		if err != nil {
			return nil, err
		}
		if mc.Percent < 0 || mc.Percent > 100 {
			return nil, errors.New("percent must be between 0 and 100")
		}
		key := def.Name + " mirror " + strconv.Itoa(i) + " " + mc.Name
		rt.stateKeys[key] = true
		m.mirrors = append(m.mirrors, &mirrorTarget{name: mc.Name, s: sv, percent: uint64(mc.Percent), slots: reg.State(key)})
	}
	if rt.mirrors == nil {
		rt.mirrors = map[string]*mirrorService{}
	}
	rt.mirrors[def.Name] = m
	return m, nil
}

// buildFailover is Traefik's getFailoverServiceHandler: the main service
// must report its status unless error statuses are set; with the
// failover's own health check, the fallback must report too.
func buildFailover(def *spec.Service, child func(string) (reporter, error)) (service, error) {
	cfg := def.Failover
	main, err := child(cfg.Service)
	if err != nil {
		return nil, err
	}
	f := &failoverService{main: main, maxBody: -1, followFallback: cfg.HealthCheck}
	errorsSet := cfg.Errors != nil && len(cfg.Errors.Status) > 0
	if cfg.Errors != nil {
		if len(cfg.Errors.Status) > 0 {
			if f.statuses, err = middleware.ParseStatusRanges(cfg.Errors.Status); err != nil {
				return nil, fmt.Errorf("error creating failover service %s: creating HTTP code ranges: %w", def.Name, err)
			}
		}
		f.maxBody = cfg.Errors.MaxRequestBodyBytes
	}
	if err := main.canReport(); err == nil {
		f.followMain = true
	} else if !errorsSet {
		return nil, fmt.Errorf("cannot register %s as updater for %s: %w", cfg.Service, def.Name, err)
	}
	if f.fallback, err = child(cfg.Fallback); err != nil {
		return nil, err
	}
	if cfg.HealthCheck {
		if err := f.fallback.canReport(); err != nil {
			return nil, fmt.Errorf("cannot register %s as updater for %s: %w", cfg.Fallback, def.Name, err)
		}
	}
	return f, nil
}
