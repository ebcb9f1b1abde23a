package engine

// observed tells whether a request's answer is access-logged and
// metered: its route's observability (IngressRoute
// routes[].observability), else its entry point's
// (entryPoints.NAME.observability), else on, as Traefik merges them
// (entry point models, then applyDefaultObservabilityModel). A request
// no router took follows its entry point. Traefik builds its entry point
// metrics and access log per router, so a route with metrics off is
// counted in no family, the entry point's included.
func observed(rr *routerRuntime, ep *EntryPoint) (logs, meter bool) {
	logs, meter = true, true
	if o := ep.Observability; o != nil {
		logs, meter = orBool(o.AccessLogs, logs), orBool(o.Metrics, meter)
	}
	if rr != nil {
		if o := rr.r.Observability; o != nil {
			logs, meter = orBool(o.AccessLogs, logs), orBool(o.Metrics, meter)
		}
	}
	return logs, meter
}

func orBool(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
