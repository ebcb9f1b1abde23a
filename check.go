package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch"
)

// runCheck is `edgeroute check DIR|FILE... [static flags]`: it loads, translates and
// compiles the manifests exactly as serving would, prints every problem with
// its location, and exits 1 if there is any (warnings, and objects that
// edgeroute does not use, are listed but do not fail the check).
func runCheck(args []string, out io.Writer) int {
	var dirs, staticArgs []string
	for _, a := range args {
		if len(a) > 2 && a[:2] == "--" {
			staticArgs = append(staticArgs, a)
		} else {
			dirs = append(dirs, a)
		}
	}
	if len(dirs) == 0 {
		fmt.Fprintln(os.Stderr, "usage: edgeroute check DIR|FILE... [--providers.kubernetesCRD.allowCrossNamespace=true ...]")
		return 2
	}
	static, err := engine.ParseStatic(staticArgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		return 2
	}
	snap := k8swatch.NewDir(dirs[0], providerOptions(static), nil, dirs[1:]...).Load()
	_, buildProblems := engine.Build(static, snap)
	problems := append(append([]spec.Problem(nil), snap.Problems...), buildProblems...)
	errs, ignored := 0, 0
	for _, p := range problems {
		if p.Ignored {
			ignored++
			fmt.Fprintf(out, "ignored: %s\n", p.Error())
			continue
		}
		if p.Warning {
			fmt.Fprintf(out, "warning: %s\n", p.Error())
			continue
		}
		errs++
		fmt.Fprintf(out, "error:   %s\n", p.Error())
	}
	fmt.Fprintf(out, "%s: %d routers, %d services, %d middlewares, %d problems, %d objects ignored\n",
		strings.Join(dirs, " "), len(snap.Routers), len(snap.Services), len(snap.Middlewares), errs, ignored)
	if errs > 0 {
		return 1
	}
	return 0
}
