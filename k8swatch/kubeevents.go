package k8swatch

import (
	"context"
	"log/slog"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// eventReporter turns configuration problems into Kubernetes Events on
// the offending objects, and log lines. A problem is reported when it
// appears, not on every rebuild; a budget (10 per second, bursts of 100)
// bounds what a cluster full of broken objects can send, on top of
// client-go's own per-object spam filter.
type eventReporter struct {
	bc      record.EventBroadcaster
	rec     record.EventRecorder
	log     *slog.Logger
	limit   *rate.Limiter
	current map[string]bool // problems of the last report
}

func newEventReporter(client kubernetes.Interface, log *slog.Logger) *eventReporter {
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return &eventReporter{bc: bc, log: log, limit: rate.NewLimiter(10, 100), current: map[string]bool{},
		rec: bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "edgeroute"})}
}

func (r *eventReporter) run(ctx context.Context) {
	<-ctx.Done()
	r.bc.Shutdown()
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
		level, reason, typ := slog.LevelWarn, "InvalidConfiguration", corev1.EventTypeWarning
		if p.Warning {
			reason = "ConfigurationWarning"
		}
		r.log.Log(context.Background(), level, "configuration problem", "problem", msg)
		ref := lookup(p.Ref.Kind, p.Ref.Namespace, p.Ref.Name)
		if ref == nil {
			continue
		}
		if !r.limit.Allow() {
			dropped++
			continue
		}
		r.rec.Event(ref, typ, reason, p.Err.Error())
	}
	if dropped > 0 {
		r.log.Warn("events not sent (rate limit)", "count", dropped)
	}
	r.current = next
}
