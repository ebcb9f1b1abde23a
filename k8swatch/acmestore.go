package k8swatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/edgeroute/edgeroute/acme"
)

// ACMEStore keeps the certificate resolvers' accounts and certificates in
// Secrets of one namespace (edgeroute's own), so that every replica of
// the DaemonSet serves the same certificates:
//
//   - edgeroute-acme-RESOLVER-account (Opaque, account.json: the
//     account as acme.json holds it);
//   - edgeroute-acme-RESOLVER-HASH (kubernetes.io/tls) per certificate,
//     its domain in the annotation edgeroute.io/acme-domain;
//   - edgeroute-acme-challenge-HASH while a challenge is in progress, so
//     that whichever replica the validation reaches answers it.
//
// One replica orders at a time: Lock holds the coordination.k8s.io Lease
// edgeroute-acme-RESOLVER, renewed while held and released after; the
// others wait, then read what it stored (Load lists the Secrets from the
// API server, not a cache) and order nothing. A watch of the certificate
// Secrets tells the manager when another replica stored one.
type ACMEStore struct {
	dyn       dynamic.Interface
	ns        string
	identity  string
	log       *slog.Logger
	leaseTime time.Duration
	mu        sync.Mutex
	onChange  func(resolver string)
}

// Labels and annotations of the ACME Secrets.
const (
	acmeLabel           = "edgeroute.io/acme"          // account, certificate or challenge
	acmeResolverLabel   = "edgeroute.io/acme-resolver" // the resolver
	acmeDomainAnnot     = "edgeroute.io/acme-domain"   // JSON {main, sans}
	acmeStoreAnnot      = "edgeroute.io/acme-store"    // the TLS store ("default")
	acmeResolverAnnot   = "edgeroute.io/acme-resolver" // the resolver, as configured
	managedByLabel      = "app.kubernetes.io/managed-by"
	acmeAccountKey      = "account.json"
	acmeChallengeKey    = "value"
	defaultLeaseSeconds = 15
)

var (
	gvrLease    = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	notDNSLabel = regexp.MustCompile(`[^a-z0-9-]+`)
)

// Namespace is where edgeroute runs: $POD_NAMESPACE (the DaemonSet sets
// it), else the pod's service-account namespace, else "default".
func Namespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "default"
}

// Identity names this process in Leases: the host (the pod) and the
// process id.
func Identity() string {
	h, err := os.Hostname()
	if err != nil {
		h = "edgeroute"
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}

// NewACMEStore connects to the cluster of opts (as the provider does) and
// keeps the ACME state in namespace ns.
func NewACMEStore(opts KubeOptions, ns string, log *slog.Logger) (*ACMEStore, error) {
	cfg, err := restConfig(opts)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "edgeroute"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ACMEStore{dyn: dyn, ns: ns, identity: Identity(), log: log.With("component", "acme-store", "namespace", ns),
		leaseTime: defaultLeaseSeconds * time.Second}, nil
}

// Namespace is the store's namespace.
func (s *ACMEStore) Namespace() string { return s.ns }

// Identity is this process's name in the Leases.
func (s *ACMEStore) Identity() string { return s.identity }

func (s *ACMEStore) secrets() dynamic.ResourceInterface {
	return s.dyn.Resource(gvrSecret).Namespace(s.ns)
}

// name makes a Secret or Lease name from parts.
func acmeName(parts ...string) string {
	n := notDNSLabel.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-")
	if len(n) > 253 {
		n = n[:253]
	}
	return strings.Trim(n, "-")
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func labelValue(s string) string {
	v := notDNSLabel.ReplaceAllString(strings.ToLower(s), "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-")
}

// Run watches the certificate and account Secrets and calls onChange with
// the resolver whose Secrets changed, until ctx ends.
func (s *ACMEStore) Run(ctx context.Context, onChange func(resolver string)) {
	s.mu.Lock()
	s.onChange = onChange
	s.mu.Unlock()
	res := s.secrets()
	sel := acmeLabel + " in (certificate,account)"
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return res.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
	// Only who changed matters here: the data is read again by Load.
	_ = inf.SetTransform(func(obj any) (any, error) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(),
				ResourceVersion: u.GetResourceVersion(), Annotations: map[string]string{acmeResolverAnnot: u.GetAnnotations()[acmeResolverAnnot]}}}, nil
		}
		return obj, nil
	})
	tell := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok || !inf.HasSynced() {
			return
		}
		if r := m.Annotations[acmeResolverAnnot]; r != "" && onChange != nil {
			onChange(r)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: tell, UpdateFunc: func(_, o any) { tell(o) }, DeleteFunc: tell})
	inf.RunWithContext(ctx)
}

// Load implements acme.Store: the Secrets as the API server has them.
func (s *ACMEStore) Load(ctx context.Context, resolver string) (*acme.Account, []*acme.CertAndStore, error) {
	list, err := s.secrets().List(ctx, metav1.ListOptions{LabelSelector: acmeResolverLabel + "=" + labelValue(resolver)})
	if err != nil {
		return nil, nil, fmt.Errorf("listing the ACME Secrets of %s: %w", s.ns, err)
	}
	var account *acme.Account
	var certs []*acme.CertAndStore
	for i := range list.Items {
		u := &list.Items[i]
		if u.GetAnnotations()[acmeResolverAnnot] != resolver {
			continue
		}
		var sec corev1.Secret
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &sec); err != nil {
			return nil, nil, err
		}
		switch sec.Labels[acmeLabel] {
		case "account":
			var a acme.Account
			if err := json.Unmarshal(sec.Data[acmeAccountKey], &a); err != nil {
				return nil, nil, fmt.Errorf("Secret %s/%s: %w", s.ns, sec.Name, err)
			}
			account = &a
		case "certificate":
			var d acme.Domain
			if err := json.Unmarshal([]byte(sec.Annotations[acmeDomainAnnot]), &d); err != nil {
				s.log.Warn("ACME certificate Secret without domain; ignored", "secret", sec.Name, "err", err)
				continue
			}
			crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
			if len(crt) == 0 || len(key) == 0 {
				continue
			}
			certs = append(certs, &acme.CertAndStore{Domain: d, Certificate: crt, Key: key, Store: sec.Annotations[acmeStoreAnnot]})
		}
	}
	return account, certs, nil
}

// put creates or replaces a Secret.
func (s *ACMEStore) put(ctx context.Context, sec *corev1.Secret) error {
	sec.APIVersion, sec.Kind, sec.Namespace = "v1", "Secret", s.ns
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	sec.Labels[managedByLabel] = "edgeroute"
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sec)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	for range 5 {
		_, err = s.secrets().Create(ctx, u, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		have, gerr := s.secrets().Get(ctx, sec.Name, metav1.GetOptions{})
		if gerr != nil {
			if apierrors.IsNotFound(gerr) {
				continue
			}
			return gerr
		}
		u.SetResourceVersion(have.GetResourceVersion())
		if _, err = s.secrets().Update(ctx, u, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return err
		}
		u.SetResourceVersion("")
	}
	return err
}

func (s *ACMEStore) meta(name, kind, resolver string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name,
		Labels:      map[string]string{acmeLabel: kind, acmeResolverLabel: labelValue(resolver)},
		Annotations: map[string]string{acmeResolverAnnot: resolver}}
}

// SaveAccount implements acme.Store.
func (s *ACMEStore) SaveAccount(ctx context.Context, resolver string, a *acme.Account) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.put(ctx, &corev1.Secret{ObjectMeta: s.meta(acmeName("edgeroute-acme", resolver, "account"), "account", resolver),
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{acmeAccountKey: data}})
}

// SaveCertificate implements acme.Store.
func (s *ACMEStore) SaveCertificate(ctx context.Context, resolver string, c *acme.CertAndStore) error {
	d, err := json.Marshal(c.Domain)
	if err != nil {
		return err
	}
	meta := s.meta(acmeName("edgeroute-acme", resolver, hash(strings.Join(c.Domain.Names(), ","))), "certificate", resolver)
	meta.Annotations[acmeDomainAnnot] = string(d)
	meta.Annotations[acmeStoreAnnot] = c.Store
	return s.put(ctx, &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: c.Certificate, corev1.TLSPrivateKeyKey: c.Key}})
}

func challengeName(key string) string { return acmeName("edgeroute-acme-challenge", hash(key)) }

// PutChallenge implements acme.ChallengeStore.
func (s *ACMEStore) PutChallenge(ctx context.Context, key string, value []byte) error {
	return s.put(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: challengeName(key), Labels: map[string]string{acmeLabel: "challenge"}},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{acmeChallengeKey: value}})
}

// DeleteChallenge implements acme.ChallengeStore.
func (s *ACMEStore) DeleteChallenge(ctx context.Context, key string) error {
	err := s.secrets().Delete(ctx, challengeName(key), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// GetChallenge implements acme.ChallengeStore.
func (s *ACMEStore) GetChallenge(ctx context.Context, key string) ([]byte, bool, error) {
	u, err := s.secrets().Get(ctx, challengeName(key), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var sec corev1.Secret
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &sec); err != nil {
		return nil, false, err
	}
	v, ok := sec.Data[acmeChallengeKey]
	return v, ok, nil
}

// LeaseName is the Lease a resolver's orders are serialised by.
func LeaseName(resolver string) string { return acmeName("edgeroute-acme", resolver) }

const microTime = "2006-01-02T15:04:05.000000Z07:00"

// Lock implements acme.Locker with the Lease of the resolver: taken when
// it has no holder, or its holder did not renew it within its duration;
// renewed every third of the duration while held; released by unlock.
func (s *ACMEStore) Lock(ctx context.Context, resolver string) (func(), error) {
	leases := s.dyn.Resource(gvrLease).Namespace(s.ns)
	name := LeaseName(resolver)
	waiting := false
	for {
		rv, err := s.tryLease(ctx, leases, name)
		if err == nil {
			s.log.Info("ACME lock taken", "lease", name, "identity", s.identity)
			held, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go s.renewLease(held, leases, name, rv, done)
			return func() {
				cancel()
				<-done
				s.releaseLease(leases, name)
			}, nil
		}
		if !errors.Is(err, errHeld) {
			s.log.Warn("taking the ACME lock", "lease", name, "err", err)
		} else if !waiting {
			waiting = true
			s.log.Info("waiting for the ACME lock", "lease", name, "holder", strings.TrimPrefix(err.Error(), errHeld.Error()+": "))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

var errHeld = errors.New("held")

// tryLease takes the Lease once, or returns errHeld (wrapped with the
// holder).
func (s *ACMEStore) tryLease(ctx context.Context, leases dynamic.ResourceInterface, name string) (string, error) {
	now := time.Now().UTC().Format(microTime)
	spec := map[string]any{"holderIdentity": s.identity, "leaseDurationSeconds": int64(s.leaseTime / time.Second),
		"acquireTime": now, "renewTime": now}
	u, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": name, "namespace": s.ns, "labels": map[string]any{managedByLabel: "edgeroute"}}, "spec": spec}}
		created, err := leases.Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return created.GetResourceVersion(), nil
	}
	if err != nil {
		return "", err
	}
	holder, _, _ := unstructured.NestedString(u.Object, "spec", "holderIdentity")
	renew, _, _ := unstructured.NestedString(u.Object, "spec", "renewTime")
	secs, _, _ := unstructured.NestedInt64(u.Object, "spec", "leaseDurationSeconds")
	if holder != "" && holder != s.identity {
		t, perr := time.Parse(microTime, renew)
		if perr == nil && time.Now().Before(t.Add(time.Duration(secs)*time.Second)) {
			return "", fmt.Errorf("%w: %s", errHeld, holder)
		}
	}
	u.Object["spec"] = spec
	updated, err := leases.Update(ctx, u, metav1.UpdateOptions{})
	if err != nil {
		return "", err
	}
	return updated.GetResourceVersion(), nil
}

func (s *ACMEStore) renewLease(ctx context.Context, leases dynamic.ResourceInterface, name, rv string, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.leaseTime / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, cancel := context.WithTimeout(ctx, s.leaseTime/3)
		u, err := leases.Get(c, name, metav1.GetOptions{})
		if err == nil {
			if h, _, _ := unstructured.NestedString(u.Object, "spec", "holderIdentity"); h == s.identity {
				_ = unstructured.SetNestedField(u.Object, time.Now().UTC().Format(microTime), "spec", "renewTime")
				_, err = leases.Update(c, u, metav1.UpdateOptions{})
			}
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("renewing the ACME lock", "lease", name, "err", err)
		}
	}
}

// releaseLease clears the holder, so the next replica need not wait for
// the Lease to expire.
func (s *ACMEStore) releaseLease(leases dynamic.ResourceInterface, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		u, err := leases.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return
		}
		if h, _, _ := unstructured.NestedString(u.Object, "spec", "holderIdentity"); h != s.identity {
			return
		}
		_ = unstructured.SetNestedField(u.Object, "", "spec", "holderIdentity")
		if _, err = leases.Update(ctx, u, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return
		}
	}
}

var (
	_ acme.Store          = (*ACMEStore)(nil)
	_ acme.Locker         = (*ACMEStore)(nil)
	_ acme.ChallengeStore = (*ACMEStore)(nil)
)
