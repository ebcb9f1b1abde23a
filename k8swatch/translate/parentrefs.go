package translate

import (
	"fmt"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// parentRouters resolves the parentRefs of an IngressRoute to the names of
// its parents' routers, as Traefik's provider does
// (resolveParentRouterNames): a reference's namespace defaults to the
// child's, another namespace needs allowCrossNamespace, and the parent
// IngressRoute must exist (whatever its ingress class). Every route of the
// parent names a router, valid or not: a parent router that was not built
// is reported by the engine ("parent router ... does not exist"), as
// Traefik's router manager does. An error skips the whole IngressRoute.
func (t *translator) parentRouters(ir *crd.IngressRoute) ([]string, error) {
	var out []string
	for _, ref := range ir.Spec.ParentRefs {
		ns := ref.Namespace
		if ns == "" {
			ns = ir.Namespace
		}
		if !t.opts.AllowCrossNamespace && ns != ir.Namespace {
			return nil, fmt.Errorf("cross-namespace reference to parent IngressRoute %s/%s not allowed", ns, ref.Name)
		}
		var parent *crd.IngressRoute
		for _, p := range t.objs.IngressRoutes {
			if p.Name == ref.Name && p.Namespace == ns {
				parent = p
				break
			}
		}
		if parent == nil {
			return nil, fmt.Errorf("parent IngressRoute %s/%s does not exist", ns, ref.Name)
		}
		// Traefik names the parent's routers after its name, never its
		// generateName.
		for _, route := range parent.Spec.Routes {
			out = append(out, routerName(parent.Namespace, parent.Name, route.Match)+ProviderSuffix)
		}
	}
	return out, nil
}
