// Package k8swatch is the control plane: it turns Kubernetes objects, from a
// folder of manifests (or, later, a live cluster), into spec.Snapshots, and
// hands each new one to the engine.
//
//	folder ──manifest.Load──▶ objects ──translate.Snapshot──▶ spec.Snapshot ──apply──▶ engine
//	   ▲                                                                          │
//	   └── fsnotify events, debounced (100 ms quiet, at most 1 s) ◀───────────────┘
//
// A rebuild always starts from every object (Contour's model): a
// configuration is a function of all objects at once.
package k8swatch

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/translate"
)

// Options are the provider options (Traefik's kubernetesCRD options).
type Options = translate.Options

// Debounce bounds: a rebuild waits for Quiet without events (or the
// quiet time set by SetDebounce), but never longer than MaxDelay after the
// first one.
const (
	Quiet    = 100 * time.Millisecond
	MaxDelay = time.Second
)

// Dir is the manifests provider: a folder of Kubernetes YAML or JSON files,
// read recursively.
type Dir struct {
	path  string
	extra []string // more files or folders loaded with path (check takes several)
	opts  Options
	log   *slog.Logger
	quiet time.Duration // Quiet unless SetDebounce changed it
}

// NewDir returns the provider for path. log may be nil.
// Further paths (files or folders) are loaded together with path but not
// watched.
func NewDir(path string, opts Options, log *slog.Logger, more ...string) *Dir {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dir{path: path, extra: more, opts: opts, log: log.With("component", "manifests", "dir", path), quiet: Quiet}
}

// SetDebounce sets how long the folder must be quiet before a rebuild
// (--providers.manifests.debounce; Quiet by default). A rebuild still
// never waits longer than MaxDelay after the first change. Call it before
// Run.
func (d *Dir) SetDebounce(quiet time.Duration) { d.quiet = quiet }

// Load reads the folder once and translates it. Problems (unreadable
// files, bad documents, bad references) are in the snapshot's Problems;
// everything else is in the snapshot.
func (d *Dir) Load() *spec.Snapshot {
	objs, problems := loadObjects(append([]string{d.path}, d.extra...)...)
	snap := translate.Snapshot(objs, d.opts)
	snap.Problems = append(problems, snap.Problems...)
	return snap
}

// Watcher follows a folder's changes. Start it before the initial Load so
// that no change made after the load is missed.
type Watcher struct {
	d *Dir
	w *fsnotify.Watcher
}

// Watch starts watching the folder and its sub-folders.
func (d *Dir) Watch() (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	wt := &Watcher{d: d, w: w}
	wt.addTree()
	return wt, nil
}

func (wt *Watcher) addTree() {
	d := wt.d
	filepath.WalkDir(d.path, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			if p != d.path && strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), "..") {
				return filepath.SkipDir
			}
			if err := wt.w.Add(p); err != nil {
				d.log.Warn("watching", "path", p, "err", err)
			}
		}
		return nil
	})
}

// Run calls apply with a new snapshot each time the folder changes, until
// ctx is done. Bursts of changes (an editor saving, kubectl writing many
// files, a ConfigMap's symlink swap) produce one rebuild.
func (wt *Watcher) Run(ctx context.Context, apply func(*spec.Snapshot)) error {
	d, w := wt.d, wt.w
	defer w.Close()
	var (
		timer   *time.Timer
		timerC  <-chan time.Time
		firstAt time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			d.log.Warn("watch error", "err", err)
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					wt.addTree() // new sub-folders are watched too
				}
			}
			now := time.Now()
			if timerC == nil {
				firstAt = now
			}
			wait := min(d.quiet, MaxDelay-now.Sub(firstAt))
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			timerC = timer.C
		case <-timerC:
			timerC = nil
			start := time.Now()
			snap := d.Load()
			d.log.Info("manifests changed: rebuilt configuration", "routers", len(snap.Routers),
				"problems", len(snap.Problems), "took", time.Since(start))
			apply(snap)
		}
	}
}
