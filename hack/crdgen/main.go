// Command crdgen writes the CustomResourceDefinitions of Traefik's HTTP
// kinds, derived from the Go types of k8swatch/crd, into a folder:
//
//	go run ./hack/crdgen -out deploy/crds
//
// Generated files of kinds that no longer exist are removed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/edgeroute/edgeroute/hack/crdgen/crdschema"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

func main() {
	out := flag.String("out", "deploy/crds", "output folder")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	files, err := crdschema.Files()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, crd.GroupName+"_*.yaml"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, ok := files[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
