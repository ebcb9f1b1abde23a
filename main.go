// Command edgeroute is an ingress proxy that serves Traefik's Kubernetes
// CRDs (IngressRoute and friends) with Traefik v3's routing semantics.
//
//	edgeroute [--entryPoints.NAME.address=ADDR ...] --providers.manifests.directory=DIR
//	edgeroute explain --providers.manifests.directory=DIR [--entrypoint NAME] [--client-ip IP] [-H 'K: V'] [--json] METHOD URL
//	edgeroute check DIR
//	edgeroute whoami --address ADDR
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/engine/api"
	"github.com/edgeroute/edgeroute/k8swatch"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "explain":
			return runExplain(args[1:], os.Stdout)
		case "check":
			return runCheck(args[1:], os.Stdout)
		case "whoami":
			return runWhoami(args[1:])
		case "help", "-h", "--help":
			fmt.Print(usage)
			return 0
		}
	}
	return runServe(args)
}

const usage = `edgeroute: an ingress proxy for Traefik's Kubernetes CRDs.

  edgeroute [static configuration flags]      serve
  edgeroute explain [flags] METHOD URL         which router a request reaches, and why not the others
  edgeroute check DIR                          validate manifests without serving
  edgeroute whoami --address ADDR              a diagnostic backend that echoes requests

Static configuration uses Traefik's key names, case-insensitive, as flags or in a YAML
--configFile, for example:
  --entryPoints.web.address=:8000
  --entryPoints.web.forwardedHeaders.insecure=true
  --entryPoints.web.forwardedHeaders.trustedIPs=10.0.0.0/8
  --providers.manifests.directory=DIR           serve and watch a folder of manifests
  --providers.kubernetesCRD.allowCrossNamespace=true
With no entry point configured: web :8000, websecure :8443, traefik :8080.
`

func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func providerOptions(s *engine.Static) k8swatch.Options {
	return k8swatch.Options{
		AllowCrossNamespace:       s.AllowCrossNamespace,
		AllowExternalNameServices: s.AllowExternalNameServices,
		AllowEmptyServices:        s.AllowEmptyServices,
		NativeLBByDefault:         s.NativeLBByDefault,
		IngressClass:              s.IngressClass,
	}
}

func kubeOptions(static *engine.Static) k8swatch.KubeOptions {
	return k8swatch.KubeOptions{
		Endpoint:         static.Kube.Endpoint,
		Token:            static.Kube.Token,
		CertAuthFilePath: static.Kube.CertAuthFilePath,
		Namespaces:       static.Kube.Namespaces,
		LabelSelector:    static.Kube.LabelSelector,
		ThrottleDuration: static.Kube.ThrottleDuration,
		Translate:        providerOptions(static),
	}
}

func runServe(args []string) int {
	log := newLogger()
	static, err := engine.ParseStatic(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeroute:", err)
		return 2
	}
	if !static.KubernetesCRD && static.ManifestsDir == "" {
		fmt.Fprint(os.Stderr, "edgeroute: no provider: set --providers.manifests.directory=DIR or --providers.kubernetesCRD\n\n"+usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// EDGEROUTE_CPUPROFILE=FILE writes a CPU profile of the whole run, for
	// finding where the time goes under load (see bench/load).
	if f := os.Getenv("EDGEROUTE_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err == nil && pprof.StartCPUProfile(out) == nil {
			defer func() { pprof.StopCPUProfile(); out.Close() }()
		}
	}

	srv := engine.NewServer(static, log)
	api.Attach(srv) // api@internal and dashboard@internal, with --api
	if static.AccessLog != nil {
		// SIGUSR1 reopens the access-log file, as Traefik does for logrotate.
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		go func() {
			for range usr1 {
				if err := srv.ReopenAccessLog(); err != nil {
					log.Error("reopening the access log", "err", err)
				}
			}
		}()
	}
	certs, err := startACME(ctx, static, srv, log)
	if err != nil {
		log.Error("starting the certificate resolvers", "err", err)
		return 1
	}
	start := startManifests
	if static.KubernetesCRD {
		start = startCluster
	}
	restoreGC := relaxGC()
	err = start(ctx, static, srv, log)
	restoreGC()
	if err != nil {
		log.Error("starting", "err", err)
		return 1
	}
	go func() {
		// Start-up's pages of the binary, once the first configuration is
		// live (see pageOutBinary).
		n, err := pageOutBinary()
		log.Debug("binary pages released", "mapped bytes", n, "err", err)
	}()
	if certs != nil {
		certs.Serving()
	}
	if err := srv.Serve(ctx); err != nil {
		log.Error("serving", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// listen opens the entry points, once the first configuration is in place.
func listen(static *engine.Static, srv *engine.Server, log *slog.Logger) error {
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	for name, ep := range static.EntryPoints {
		log.Info("entry point listening", "name", name, "address", srv.Addr(name), "configured", ep.Address)
	}
	return nil
}

// startManifests serves a folder of manifests and follows its changes.
func startManifests(ctx context.Context, static *engine.Static, srv *engine.Server, log *slog.Logger) error {
	dir := k8swatch.NewDir(static.ManifestsDir, providerOptions(static), log)
	if static.ManifestsDebounce > 0 {
		dir.SetDebounce(static.ManifestsDebounce)
	}
	apply := func(snap *spec.Snapshot) {
		problems := append(append([]spec.Problem(nil), snap.Problems...), srv.Apply(snap)...)
		for _, p := range problems {
			if p.Ignored {
				log.Info("object not used", "object", p.Error())
			} else if p.Warning {
				log.Warn("configuration warning", "problem", p.Error())
			} else {
				log.Warn("configuration problem", "problem", p.Error())
			}
		}
		log.Info("configuration applied", "routers", len(snap.Routers), "services", len(snap.Services),
			"problems", len(problems), "recompiled", srv.Runtime().Compiled)
	}
	// Watch first, then load: a change made after the load is never missed.
	watcher, err := dir.Watch()
	if err != nil {
		return fmt.Errorf("watching manifests: %w", err)
	}
	// The initial configuration is in place before any entry point accepts.
	apply(dir.Load())
	if err := listen(static, srv, log); err != nil {
		return err
	}
	go func() {
		if err := watcher.Run(ctx, apply); err != nil && ctx.Err() == nil {
			log.Error("watching manifests", "err", err)
		}
	}()
	return nil
}

// startCluster watches the cluster; the entry points open (and /ping
// answers) once the caches have synced and the first configuration is live.
func startCluster(ctx context.Context, static *engine.Static, srv *engine.Server, log *slog.Logger) error {
	kube, err := k8swatch.NewKube(kubeOptions(static), log)
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	failed := make(chan error, 1)
	go func() { failed <- kube.Run(ctx, srv, ready) }()
	select {
	case <-ready:
	case err := <-failed:
		if err == nil {
			err = ctx.Err()
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	go func() {
		if err := <-failed; err != nil {
			log.Error("watching the cluster", "err", err)
		}
	}()
	return listen(static, srv, log)
}

// relaxGC lets the first configuration load collect less often, and
// returns what restores the collector's settings. That load builds the
// whole configuration at once from an almost empty heap: at GOGC=100 the
// collector would run a dozen times while the live heap grows (a fifth of
// the load's CPU at 10k routes). Collecting at 4x the live heap, bounded
// by a soft limit of 256 MiB, keeps the peak bounded; the garbage goes
// back to the system once the load is applied (Server.releaseMemory).
// GOGC or GOMEMLIMIT set by the user are left alone.
func relaxGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	percent := debug.SetGCPercent(400)
	limit := debug.SetMemoryLimit(256 << 20)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
