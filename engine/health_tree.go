// Runs per request: must not allocate (guarded by TestTraefikServiceAllocs).

package engine

import (
	"sync/atomic"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/lb"
)

// Health up the service tree, as Traefik propagates it
// (healthcheck.StatusUpdater): a servers load balancer with an active
// health check is down once all its servers are; a parent with
// `healthCheck: {}` (Weighted.HealthCheck and the like) follows its
// children's status, skips those that are down, and reports its own to
// its parents; a failover follows its main service whenever that one
// reports. A parent may follow only a child that reports (canReport);
// otherwise the build fails with Traefik's message.
//
// Traefik pushes each change up through callbacks; edgeroute pulls: a
// service's status is computed from its children's when asked, and
// cached until lb.HealthEpoch changes (any server going up or down, any
// balancer's servers replaced), so a request costs one atomic load while
// nothing changes. The results are the same, since Traefik's pushed
// status is a function of the same server states; as in Traefik, a
// service starts up, and one with no children at all never reports down.

// reporter is a service whose status its parents may follow.
type reporter interface {
	service
	// canReport is nil when the service reports its status (Traefik's
	// RegisterStatusUpdater succeeds), else Traefik's error.
	canReport() error
	// up is the status the service reports.
	up() bool
}

// healthMemo caches a status for one lb.HealthEpoch.
type healthMemo struct{ v atomic.Uint64 } // (epoch+1)<<1 | up; 0: nothing cached

func (m *healthMemo) get(epoch uint64) (up, ok bool) {
	v := m.v.Load()
	if v>>1 != epoch+1 {
		return false, false
	}
	return v&1 == 1, true
}

func (m *healthMemo) set(epoch uint64, up bool) {
	v := (epoch + 1) << 1
	if up {
		v |= 1
	}
	m.v.Store(v)
}

// children are the child services of a weighted or highest-random-weight
// service. Each child's lb.State (kept in the registry by parent and
// child name) is what the balancer skips when it is down: with follow,
// it mirrors the child's status, refreshed when the health epoch moves;
// without, it stays up, as Traefik's parent without a health check never
// hears of its children's.
type children struct {
	follow bool
	eps    []*lb.Endpoint
	kids   []reporter // eps[i]'s service
	synced atomic.Uint64
	health healthMemo
}

func (c *children) init(follow bool, kids []weighted, def *spec.Service, reg *lb.Registry) {
	c.follow = follow
	for _, k := range kids {
		st := reg.State(def.Name + " " + k.name)
		if !follow {
			st.SetUp(true) // a previous configuration may have followed it
		}
		c.eps = append(c.eps, &lb.Endpoint{Key: configName(k.name), Weight: k.weight, State: st, Data: k.s})
		c.kids = append(c.kids, k.s.(reporter))
	}
}

// sync copies the children's status into their States. A State that
// changes moves the epoch again, so a sync that raced with a change is
// redone by the next request.
func (c *children) sync() {
	if !c.follow {
		return
	}
	epoch := lb.HealthEpoch()
	if c.synced.Load() == epoch+1 {
		return
	}
	for i, k := range c.kids {
		c.eps[i].State.SetUp(k.up())
	}
	c.synced.Store(epoch + 1)
}

// up is Traefik's status of a balancer of services: up while any child
// it balances over (weight above 0) is.
func (c *children) up() bool {
	c.sync()
	epoch := lb.HealthEpoch()
	if up, ok := c.health.get(epoch); ok {
		return up
	}
	up, any := false, false
	for _, ep := range c.eps {
		if ep.Weight > 0 {
			any = true
			up = up || ep.State.Up()
		}
	}
	up = up || !any
	c.health.set(epoch, up)
	return up
}

// Every service reports, or says why it cannot.
var _ = []reporter{(*lbService)(nil), (*weightedService)(nil), (*hrwService)(nil), (*failoverService)(nil), (*mirrorService)(nil), (*mwService)(nil)}
