package k8swatch

import (
	"context"
	"log/slog"
	"os"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// eventReporter turns configuration problems into Kubernetes Events on
// the offending objects, and log lines. A problem is reported when it
// appears, not on every rebuild; a budget (10 per second, bursts of 100)
// bounds what a cluster full of broken objects can send. Events are
// written in the background, so a slow API server never delays a
// rebuild; when the queue is full, events are dropped and counted.
type eventReporter struct {
	dyn     dynamic.Interface
	log     *slog.Logger
	limit   *rate.Limiter
	current map[string]bool // problems of the last report
	queue   chan *corev1.Event
	host    string
}

var gvrEvent = schema.GroupVersionResource{Version: "v1", Resource: "events"}

func newEventReporter(dyn dynamic.Interface, log *slog.Logger) *eventReporter {
	host, _ := os.Hostname()
	return &eventReporter{dyn: dyn, log: log, limit: rate.NewLimiter(10, 100), current: map[string]bool{},
		queue: make(chan *corev1.Event, 1000), host: host}
}

// run writes queued events until ctx ends.
func (r *eventReporter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.queue:
			obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ev)
			if err == nil {
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err = r.dyn.Resource(gvrEvent).Namespace(ev.Namespace).Create(wctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
				cancel()
			}
			if err != nil && ctx.Err() == nil {
				r.log.Warn("writing an Event", "object", ev.InvolvedObject.Namespace+"/"+ev.InvolvedObject.Name, "err", err)
			}
		}
	}
}

// report emits the problems not in the previous report.
func (r *eventReporter) report(problems []spec.Problem, lookup func(kind, ns, name string) *corev1.ObjectReference) {
	next := map[string]bool{}
	dropped := 0
	for _, p := range problems {
		if p.Ignored {
			continue
		}
		msg := p.Error()
		if next[msg] {
			continue
		}
		next[msg] = true
		if r.current[msg] {
			continue
		}
		reason := "InvalidConfiguration"
		if p.Warning {
			reason = "ConfigurationWarning"
		}
		r.log.Warn("configuration problem", "problem", msg)
		ref := lookup(p.Ref.Kind, p.Ref.Namespace, p.Ref.Name)
		if ref == nil || ref.Namespace == "" {
			continue
		}
		if !r.limit.Allow() {
			dropped++
			continue
		}
		now := metav1.Now()
		ev := &corev1.Event{
			TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
			ObjectMeta:          metav1.ObjectMeta{GenerateName: ref.Name + ".", Namespace: ref.Namespace},
			InvolvedObject:      *ref,
			Reason:              reason,
			Message:             truncate(p.Err.Error(), 1024),
			Type:                corev1.EventTypeWarning,
			Source:              corev1.EventSource{Component: "edgeroute", Host: r.host},
			FirstTimestamp:      now,
			LastTimestamp:       now,
			Count:               1,
			ReportingController: "edgeroute",
			ReportingInstance:   "edgeroute-" + r.host,
		}
		select {
		case r.queue <- ev:
		default:
			dropped++
		}
	}
	if dropped > 0 {
		r.log.Warn("events not sent (rate limit)", "count", dropped)
	}
	r.current = next
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
