package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/http01"
	"github.com/go-acme/lego/v5/challenge/tlsalpn01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/registration"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/tlsmux"
)

// DefaultStore is the TLS store ACME certificates belong to.
const DefaultStore = "default"

// Request is what one router, or the TLSStore's defaultGeneratedCert,
// asks of a resolver.
type Request struct {
	Resolver string
	Ref      spec.Ref // the object asking, for problems
	// Domains are tls.domains, one certificate each; when empty, Hosts
	// (the rule's Host() values) get one certificate together.
	Domains []Domain
	Hosts   []string
	// Default marks defaultGeneratedCert: Domains[0] is ordered unless a
	// certificate for exactly its names exists.
	Default bool
}

// Options configure a Manager.
type Options struct {
	Log *slog.Logger
	// Store returns the store of a resolver; nil keeps every resolver in
	// its Storage file (one FileStore per file).
	Store func(*Config) (Store, error)
	// OnChange is called (from the manager's goroutines) whenever the
	// certificates served change.
	OnChange func()
}

// Manager runs the certificate resolvers of the static configuration.
type Manager struct {
	log       *slog.Logger
	resolvers map[string]*resolver
	names     []string
	ch        *challenges
	onChange  func()
	mu        sync.Mutex
	served    []tlsmux.Certificate // every resolver's, parsed; under mu
	byNames   map[string]*tlsmux.Certificate
	started   bool
	// serving is closed once the entry points accept connections: no
	// order is placed before, since its validation could not reach them.
	serving     chan struct{}
	servingOnce sync.Once
}

// Serving tells the manager that the entry points accept connections, so
// orders may start.
func (m *Manager) Serving() { m.servingOnce.Do(func() { close(m.serving) }) }

// NewManager prepares the resolvers (nothing is ordered before Run).
// Configurations must have been validated.
func NewManager(configs map[string]*Config, opts Options) (*Manager, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "acme")
	legolog.SetDefault(log.With("library", "lego"))
	m := &Manager{log: log, resolvers: map[string]*resolver{}, ch: newChallenges(log), onChange: opts.OnChange,
		serving: make(chan struct{})}
	files := map[string]*FileStore{}
	for name, cfg := range configs {
		var st Store
		if opts.Store != nil {
			var err error
			if st, err = opts.Store(cfg); err != nil {
				return nil, fmt.Errorf("certificatesResolvers.%s.acme: %w", name, err)
			}
		}
		if st == nil {
			path := cfg.Storage
			if path == "" {
				path = "acme.json"
			}
			if files[path] == nil {
				files[path] = NewFileStore(path)
			}
			st = files[path]
		}
		if cs, ok := st.(ChallengeStore); ok {
			m.ch.shared = cs
		}
		period, interval := RenewDurations(cfg.CertificatesDuration)
		m.resolvers[name] = &resolver{m: m, cfg: cfg, store: st, wake: make(chan struct{}, 1),
			failed: map[string]*failure{}, renewPeriod: period, checkEvery: interval,
			log: log.With("resolver", name)}
		m.names = append(m.names, name)
	}
	sort.Strings(m.names)
	return m, nil
}

// Has tells whether a resolver of that name exists.
func (m *Manager) Has(name string) bool { return m != nil && m.resolvers[name] != nil }

// Run loads the stored certificates and orders and renews certificates
// until ctx ends. The first load is done when Run returns; the rest runs
// in the background.
func (m *Manager) Run(ctx context.Context) error {
	var errs []error
	for _, name := range m.names {
		r := m.resolvers[name]
		if err := r.reload(ctx); err != nil {
			errs = append(errs, fmt.Errorf("certificate resolver %s: %w", name, err))
		}
	}
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	m.publish()
	for _, name := range m.names {
		go m.resolvers[name].run(ctx)
	}
	return errors.Join(errs...)
}

// Reload re-reads a resolver's certificates from its store (another
// replica stored some); a store that watches calls it.
func (m *Manager) Reload(resolver string) {
	if r := m.resolvers[resolver]; r != nil {
		r.poke(true)
	}
}

// HTTPEntryPoints are the entry points answering HTTP-01 challenges,
// sorted.
func (m *Manager) HTTPEntryPoints() []string {
	var out []string
	for _, r := range m.resolvers {
		if ep := r.cfg.HTTPEntryPoint(); ep != "" && !slices.Contains(out, ep) {
			out = append(out, ep)
		}
	}
	sort.Strings(out)
	return out
}

// HTTPChallenge returns the key authorization to answer a request for
// path on host, when it is an HTTP-01 challenge in progress.
func (m *Manager) HTTPChallenge(host, path string) (string, bool) { return m.ch.httpAnswer(host, path) }

// ChallengeCertificate returns the TLS-ALPN-01 certificate for a
// handshake offering acme-tls/1 to serverName, or nil.
func (m *Manager) ChallengeCertificate(serverName string) *tls.Certificate {
	return m.ch.alpnCertificate(serverName)
}

// Certificates returns every certificate the resolvers hold, for the
// default TLS store.
func (m *Manager) Certificates() []tlsmux.Certificate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.served
}

// DefaultCertificate returns the certificate for defaultGeneratedCert: one
// whose names include every name of d (Traefik's GetCertificate), or nil.
func (m *Manager) DefaultCertificate(d Domain) *tlsmux.Certificate {
	names, err := sanitize(d)
	if err != nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.byNames[domainKey(names)]; c != nil {
		return c
	}
	for i := range m.served {
		c := &m.served[i]
		have := certNames(c.Cert.Leaf)
		if !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(have, n) }) {
			return c
		}
	}
	return nil
}

// Want replaces the certificates the configuration asks for; covered are
// the names the store's other certificates (Secrets) already serve, which
// are not ordered (as Traefik). It returns the problems of the requests:
// a resolver without usable challenge and names that cannot be ordered
// (failures to obtain a certificate come later: see Problems).
func (m *Manager) Want(reqs []Request, covered []string) []spec.Problem {
	var problems []spec.Problem
	by := map[string][]Request{}
	for _, q := range reqs {
		r := m.resolvers[q.Resolver]
		if r == nil {
			continue // the engine reports unknown resolvers
		}
		if err := r.cfg.challengeError(); err != nil {
			problems = append(problems, spec.Problem{Ref: q.Ref, Err: err})
			continue
		}
		by[q.Resolver] = append(by[q.Resolver], q)
	}
	for _, name := range m.names {
		r := m.resolvers[name]
		problems = append(problems, r.want(by[name], covered)...)
	}
	return problems
}

// Problems are the failures of the last orders for the certificates
// wanted: each on the objects asking for it (Traefik only logs them).
func (m *Manager) Problems() []spec.Problem {
	if m == nil {
		return nil
	}
	var out []spec.Problem
	for _, name := range m.names {
		r := m.resolvers[name]
		r.mu.Lock()
		for _, j := range r.jobs {
			if f := r.failed[j.key]; f != nil {
				for _, ref := range j.refs {
					out = append(out, spec.Problem{Ref: ref, Err: fmt.Errorf("certificate resolver %s: %v", name, f.err)})
				}
			}
		}
		r.mu.Unlock()
	}
	return out
}

// publish rebuilds the served certificates and tells the engine.
func (m *Manager) publish() {
	var served []tlsmux.Certificate
	byNames := map[string]*tlsmux.Certificate{}
	for _, name := range m.names {
		r := m.resolvers[name]
		r.mu.Lock()
		for _, c := range r.certs {
			cert, err := tlsmux.ParseCertificate(c.Certificate, c.Key)
			if err != nil {
				r.log.Warn("stored certificate unusable; it will be renewed", "domains", c.Domain.Names(), "err", err)
				continue
			}
			served = append(served, tlsmux.Certificate{Cert: cert,
				Source: fmt.Sprintf("certificate resolver %s: %s", name, strings.Join(c.Domain.Names(), ","))})
		}
		r.mu.Unlock()
	}
	for i := range served {
		key := domainKey(certNames(served[i].Cert.Leaf))
		if byNames[key] == nil {
			byNames[key] = &served[i]
		}
	}
	m.mu.Lock()
	started := m.started
	m.served, m.byNames = served, byNames
	m.mu.Unlock()
	if started && m.onChange != nil {
		m.onChange()
	}
}

// certNames are a certificate's CommonName and DNS names, lower case.
func certNames(leaf *x509.Certificate) []string {
	var out []string
	if leaf == nil {
		return nil
	}
	if cn := leaf.Subject.CommonName; cn != "" {
		out = append(out, strings.ToLower(cn))
	}
	for _, n := range leaf.DNSNames {
		if n = strings.ToLower(n); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// resolver is one certificatesResolvers.NAME.acme.
type resolver struct {
	m     *Manager
	cfg   *Config
	store Store
	log   *slog.Logger
	wake  chan struct{}
	// renewPeriod and checkEvery are the renewal timings.
	renewPeriod, checkEvery time.Duration

	mu      sync.Mutex
	jobs    []*job // wanted, from the last Want
	certs   []*CertAndStore
	account *Account
	client  *lego.Client
	failed  map[string]*failure // by job key
	reread  bool                // reload from the store before the next pass
}

// job is one certificate wanted.
type job struct {
	key   string   // domainKey of names
	names []string // sanitized
	refs  []spec.Ref
	// dflt: defaultGeneratedCert (ordered unless exactly these names are
	// held); otherwise only the names no certificate covers are ordered.
	dflt bool
}

type failure struct {
	err   error
	at    time.Time
	delay time.Duration
}

// Retry delays after a failed order: 1 minute, doubling up to an hour
// (Let's Encrypt allows 5 failed validations per hour and name).
const (
	retryFirst = time.Minute
	retryMax   = time.Hour
)

func (r *resolver) poke(reread bool) {
	if reread {
		r.mu.Lock()
		r.reread = true
		r.mu.Unlock()
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// want installs the resolver's requests as jobs and returns the problems
// known for them.
func (r *resolver) want(reqs []Request, covered []string) []spec.Problem {
	var problems []spec.Problem
	jobs := map[string]*job{}
	var order []string
	add := func(names []string, ref spec.Ref, dflt bool) {
		key := domainKey(names)
		if dflt {
			key = "default " + key
		}
		j := jobs[key]
		if j == nil {
			j = &job{key: key, names: names, dflt: dflt}
			jobs[key] = j
			order = append(order, key)
		}
		if !slices.Contains(j.refs, ref) {
			j.refs = append(j.refs, ref)
		}
	}
	for _, q := range reqs {
		switch {
		case q.Default:
			names, err := sanitize(q.Domains[0])
			if err != nil {
				problems = append(problems, spec.Problem{Ref: q.Ref, Err: fmt.Errorf("defaultGeneratedCert: %w", err)})
				continue
			}
			add(names, q.Ref, true)
		case len(q.Domains) > 0:
			for _, d := range dedupeDomains(q.Domains) {
				names, err := sanitize(d)
				if err != nil {
					problems = append(problems, spec.Problem{Ref: q.Ref, Err: fmt.Errorf("tls.domains: %w", err)})
					continue
				}
				if uncovered(names, covered) != nil {
					add(names, q.Ref, false)
				}
			}
		case len(q.Hosts) > 0:
			names, err := sanitize(domainOf(q.Hosts))
			if err != nil {
				problems = append(problems, spec.Problem{Ref: q.Ref, Err: err})
				continue
			}
			if uncovered(names, covered) != nil {
				add(names, q.Ref, false)
			}
		default:
			problems = append(problems, spec.Problem{Ref: q.Ref, Warning: true, Err: fmt.Errorf(
				"tls.certResolver %s: the rule names no Host() and tls.domains is empty, so no certificate is requested", q.Resolver)})
		}
	}
	r.mu.Lock()
	r.jobs = nil
	for _, k := range order {
		r.jobs = append(r.jobs, jobs[k])
	}
	for k := range r.failed {
		if jobs[k] == nil {
			delete(r.failed, k)
		}
	}
	r.mu.Unlock()
	r.poke(false)
	return problems
}

// uncovered returns the names that none of have matches.
func uncovered(names, have []string) []string {
	var out []string
	for _, n := range names {
		if !covered(n, have) {
			out = append(out, n)
		}
	}
	return out
}

// reload reads the resolver's account and certificates from the store.
func (r *resolver) reload(ctx context.Context) error {
	account, certs, err := r.store.Load(ctx, r.cfg.Name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	changed := !sameCerts(r.certs, certs)
	r.certs = certs
	if account != nil && (r.account == nil || r.account.Registration == nil) {
		r.account = account
	}
	if r.account == nil {
		r.account = account
	}
	r.reread = false
	r.mu.Unlock()
	if changed {
		r.m.publish()
	}
	return nil
}

func sameCerts(a, b []*CertAndStore) bool {
	return slices.EqualFunc(a, b, func(x, y *CertAndStore) bool {
		return x.Domain.equal(y.Domain) && string(x.Certificate) == string(y.Certificate) && x.Store == y.Store
	})
}

// run is the resolver's loop: a pass at every wake-up (new requests, a
// store change) and every checkEvery (renewals).
func (r *resolver) run(ctx context.Context) {
	select {
	case <-r.m.serving:
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(r.checkEvery)
	defer tick.Stop()
	for {
		r.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// task is one order: a new certificate for names, or the renewal of old.
type task struct {
	j   *job
	old *CertAndStore
}

// todo lists the orders due now: wanted certificates no certificate
// covers (past their retry delay) and certificates expiring within the
// renewal period.
func (r *resolver) todo(now time.Time) []task {
	r.mu.Lock()
	defer r.mu.Unlock()
	var held []string
	exact := map[string]bool{}
	for _, c := range r.certs {
		held = append(held, strings.Join(c.Domain.Names(), ","))
		exact[domainKey(c.Domain.Names())] = true
	}
	var out []task
	for _, j := range r.jobs {
		if f := r.failed[j.key]; f != nil && now.Before(f.at.Add(f.delay)) {
			continue
		}
		if j.dflt {
			if !exact[domainKey(j.names)] {
				out = append(out, task{j: j})
			}
			continue
		}
		if len(uncovered(j.names, splitAll(held))) > 0 {
			out = append(out, task{j: j})
		}
	}
	for _, c := range r.certs {
		if expiring(c, now.Add(r.renewPeriod)) {
			key := "renew " + domainKey(c.Domain.Names())
			if f := r.failed[key]; f != nil && now.Before(f.at.Add(f.delay)) {
				continue
			}
			out = append(out, task{old: c})
		}
	}
	return out
}

func splitAll(held []string) []string {
	var out []string
	for _, h := range held {
		out = append(out, strings.Split(h, ",")...)
	}
	return out
}

// expiring tells whether c is unusable or expires before t.
func expiring(c *CertAndStore, t time.Time) bool {
	cert, err := tls.X509KeyPair(c.Certificate, c.Key)
	if err != nil {
		return true
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return true
		}
	}
	return leaf.NotAfter.Before(t)
}

// pass orders what is due. With a shared store it first takes the lock
// and re-reads the store, so that what another replica obtained meanwhile
// is not ordered again.
func (r *resolver) pass(ctx context.Context) {
	r.mu.Lock()
	reread := r.reread
	r.mu.Unlock()
	if reread {
		if err := r.reload(ctx); err != nil {
			r.log.Error("reading the stored certificates", "err", err)
		}
	}
	if len(r.todo(time.Now())) == 0 {
		return
	}
	if l, ok := r.store.(Locker); ok {
		unlock, err := l.Lock(ctx, r.cfg.Name)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("waiting for the ACME lock", "err", err)
			}
			return
		}
		defer unlock()
		if err := r.reload(ctx); err != nil {
			r.log.Error("reading the stored certificates", "err", err)
			return
		}
	}
	for _, t := range r.todo(time.Now()) {
		if ctx.Err() != nil {
			return
		}
		r.do(ctx, t)
	}
}

// do runs one order and records its outcome.
func (r *resolver) do(ctx context.Context, t task) {
	var key string
	var refs []spec.Ref
	var cert *CertAndStore
	var err error
	if t.old != nil {
		key = "renew " + domainKey(t.old.Domain.Names())
		cert, err = r.renew(ctx, t.old)
	} else {
		key, refs = t.j.key, t.j.refs
		cert, err = r.obtain(ctx, t.j)
	}
	if err == nil && cert != nil {
		if err = r.store.SaveCertificate(ctx, r.cfg.Name, cert); err != nil {
			err = fmt.Errorf("storing the certificate: %w", err)
		}
	}
	r.mu.Lock()
	if err != nil {
		f := r.failed[key]
		if f == nil {
			f = &failure{delay: retryFirst}
			r.failed[key] = f
		} else {
			f.delay = min(2*f.delay, retryMax)
		}
		f.err, f.at = err, time.Now()
		r.mu.Unlock()
		for _, ref := range refs {
			r.log.Warn("configuration problem", "problem", spec.Problem{Ref: ref, Err: fmt.Errorf("certificate resolver %s: %v", r.cfg.Name, err)}.Error())
		}
		if len(refs) == 0 {
			r.log.Error("renewing a certificate", "err", err)
		}
		return
	}
	delete(r.failed, key)
	r.certs = replaceCert(r.certs, cert)
	r.mu.Unlock()
	r.log.Info("certificate obtained", "domains", strings.Join(cert.Domain.Names(), ","), "renewal", t.old != nil)
	r.m.publish()
}

// obtain orders a certificate for a job (Traefik's resolveCertificate and
// resolveDefaultCertificate).
func (r *resolver) obtain(ctx context.Context, j *job) (*CertAndStore, error) {
	domain := domainOf(j.names)
	if !j.dflt {
		r.mu.Lock()
		var held []string
		for _, c := range r.certs {
			held = append(held, c.Domain.Names()...)
		}
		r.mu.Unlock()
		// As Traefik: the certificate is ordered for every name and
		// filed under those not yet covered.
		domain = domainOf(uncovered(j.names, held))
	}
	client, err := r.getClient(ctx)
	if err != nil {
		return nil, err
	}
	kt := keyTypes[r.cfg.KeyType]
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains:          j.names,
		Bundle:           true,
		EmailAddresses:   r.cfg.EmailAddresses,
		PreferredChain:   r.cfg.PreferredChain,
		EnableCommonName: !r.cfg.DisableCommonName,
		KeyType:          kt,
	})
	if err != nil {
		return nil, fmt.Errorf("unable to generate a certificate for the domains %v: %w", j.names, err)
	}
	if res == nil || len(res.Certificate) == 0 || len(res.PrivateKey) == 0 {
		return nil, fmt.Errorf("certificate for domains %v is empty", j.names)
	}
	return &CertAndStore{Domain: domain, Certificate: res.Certificate, Key: res.PrivateKey, Store: DefaultStore}, nil
}

// renew renews a stored certificate, with its key (Traefik's
// renewCertificates).
func (r *resolver) renew(ctx context.Context, old *CertAndStore) (*CertAndStore, error) {
	client, err := r.getClient(ctx)
	if err != nil {
		return nil, err
	}
	r.log.Info("renewing certificate", "domains", strings.Join(old.Domain.Names(), ","))
	res, err := client.Certificate.Renew(ctx, certificate.Resource{
		ID: old.Domain.Main, Domains: old.Domain.Names(), PrivateKey: old.Key, Certificate: old.Certificate,
	}, &certificate.RenewOptions{Bundle: true, EmailAddresses: r.cfg.EmailAddresses, PreferredChain: r.cfg.PreferredChain,
		EnableCommonName: !r.cfg.DisableCommonName})
	if err != nil {
		return nil, fmt.Errorf("renewing the certificate for %v: %w", old.Domain.Names(), err)
	}
	if len(res.Certificate) == 0 || len(res.PrivateKey) == 0 {
		return nil, fmt.Errorf("renewed certificate for %v is empty", old.Domain.Names())
	}
	return &CertAndStore{Domain: old.Domain, Certificate: res.Certificate, Key: res.PrivateKey, Store: old.Store}, nil
}

// getClient builds the lego client once: the stored account (a new one,
// registered, when there is none or it belongs to another CA) and the
// challenges.
func (r *resolver) getClient(ctx context.Context) (*lego.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return r.client, nil
	}
	if err := r.cfg.challengeError(); err != nil {
		return nil, err
	}
	ca := caServer(r.cfg.CAServer)
	account := r.account
	if account != nil && account.Registration != nil && !sameHost(account.Registration.URI, ca) {
		r.log.Info("the account belongs to another CA server; a new account is registered")
		account = nil
	}
	if account == nil || account.Email == "" && r.cfg.Email != "" || len(account.PrivateKey) == 0 {
		var err error
		if account, err = newAccount(r.cfg.Email); err != nil {
			return nil, err
		}
	}
	key, err := x509.ParsePKCS1PrivateKey(account.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("the account's private key: %w", err)
	}
	httpClient, err := r.httpClient()
	if err != nil {
		return nil, err
	}
	config := lego.NewConfig(&legoUser{a: account, key: key})
	config.CADirURL = ca
	config.UserAgent = "edgeroute"
	config.Certificate.Timeout = r.cfg.CertificateTimeout
	config.HTTPClient = httpClient
	client, err := lego.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("ACME client for %s: %w", ca, err)
	}
	if account.Registration == nil {
		reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
		if err != nil {
			return nil, fmt.Errorf("registering the ACME account: %w", err)
		}
		account.Registration = &Registration{Body: reg.Account, URI: reg.Location}
	}
	if err := r.store.SaveAccount(ctx, r.cfg.Name, account); err != nil {
		return nil, fmt.Errorf("storing the ACME account: %w", err)
	}
	r.account = account
	if h := r.cfg.HTTPChallenge; h != nil && h.EntryPoint != "" {
		if err := client.Challenge.SetHTTP01Provider(httpProvider{r.m.ch}, http01.SetDelay(h.Delay)); err != nil {
			return nil, err
		}
	}
	if t := r.cfg.TLSChallenge; t != nil {
		if err := client.Challenge.SetTLSALPN01Provider(alpnProvider{r.m.ch}, tlsalpn01.SetDelay(t.Delay)); err != nil {
			return nil, err
		}
	}
	r.client = client
	return client, nil
}

// sameHost is Traefik's isAccountMatchingCaServer.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Hostname() == ub.Hostname()
}

// httpClient is Traefik's createHTTPClient: its timeouts, and the CA
// bundle of caCertificates (or LEGO_CA_CERTIFICATES) for the ACME
// server's HTTPS.
func (r *resolver) httpClient() (*http.Client, error) {
	var tlsConfig *tls.Config
	if len(r.cfg.CACertificates) > 0 || r.cfg.CAServerName != "" {
		pool, err := lego.CreateCertPool(r.cfg.CACertificates, r.cfg.CASystemCertPool)
		if err != nil {
			return nil, fmt.Errorf("caCertificates: %w", err)
		}
		tlsConfig = &tls.Config{ServerName: r.cfg.CAServerName, RootCAs: pool}
	} else {
		tlsConfig = lego.NewConfig(nil).HTTPClient.Transport.(*http.Transport).TLSClientConfig
	}
	return &http.Client{
		Timeout: r.cfg.ClientTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: r.cfg.ClientResponseHeaderTimeout,
			TLSClientConfig:       tlsConfig,
		},
	}, nil
}
