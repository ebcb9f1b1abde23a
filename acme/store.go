package acme

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	legoacme "github.com/go-acme/lego/v5/acme"
)

// Store keeps a resolver's ACME account and certificates.
type Store interface {
	// Load returns the account (nil when there is none yet) and the
	// certificates stored for resolver, as they are now (a store shared
	// by replicas reads what another one saved).
	Load(ctx context.Context, resolver string) (*Account, []*CertAndStore, error)
	SaveAccount(ctx context.Context, resolver string, a *Account) error
	// SaveCertificate adds c, or replaces the certificate of the same
	// Domain.
	SaveCertificate(ctx context.Context, resolver string, c *CertAndStore) error
}

// Locker is implemented by stores that several processes share: Lock
// returns once this process is the only one ordering for resolver, until
// unlock is called (or ctx ends).
type Locker interface {
	Lock(ctx context.Context, resolver string) (unlock func(), err error)
}

// ChallengeStore is implemented by stores that several processes share
// and that share the challenges too, so that whichever replica the ACME
// server's validation reaches can answer it. Keys are
// "http-TOKEN" and "alpn-DOMAIN".
type ChallengeStore interface {
	PutChallenge(ctx context.Context, key string, value []byte) error
	DeleteChallenge(ctx context.Context, key string) error
	// GetChallenge reads a challenge from the shared storage itself (not
	// a cache): for a request that arrives before the watch told of it.
	GetChallenge(ctx context.Context, key string) (value []byte, ok bool, err error)
}

// Account is Traefik's ACME account, as acme.json stores it.
type Account struct {
	Email        string
	Registration *Registration
	PrivateKey   []byte // PKCS#1 DER of an RSA key
}

// Registration is the account's resource at the CA.
type Registration struct {
	Body legoacme.Account `json:"body"`
	URI  string           `json:"uri,omitempty"`
}

// newAccount makes an account with a new 4096-bit RSA key, as Traefik.
func newAccount(email string) (*Account, error) {
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return nil, err
	}
	return &Account{Email: email, PrivateKey: x509.MarshalPKCS1PrivateKey(key)}, nil
}

// legoUser is an Account as lego's registration.User.
type legoUser struct {
	a   *Account
	key crypto.Signer
}

func (u *legoUser) GetEmail() string { return u.a.Email }
func (u *legoUser) GetRegistration() *legoacme.ExtendedAccount {
	if u.a.Registration == nil {
		return nil
	}
	return &legoacme.ExtendedAccount{Account: u.a.Registration.Body, Location: u.a.Registration.URI}
}
func (u *legoUser) GetPrivateKey() crypto.Signer { return u.key }

// Domain is a certificate subject, as Traefik's types.Domain.
type Domain struct {
	Main string   `json:"main,omitempty"`
	SANs []string `json:"sans,omitempty"`
}

// Names returns Main and then the SANs (Traefik's ToStrArray).
func (d Domain) Names() []string {
	var out []string
	if d.Main != "" {
		out = append(out, d.Main)
	}
	return append(out, d.SANs...)
}

func domainOf(names []string) Domain {
	if len(names) == 0 {
		return Domain{}
	}
	return Domain{Main: names[0], SANs: slices.Clone(names[1:])}
}

func (d Domain) equal(o Domain) bool { return d.Main == o.Main && slices.Equal(d.SANs, o.SANs) }

// CertAndStore is one certificate of acme.json: PEM chain and key, the
// domain it was ordered for, and the TLS store it belongs to ("default").
type CertAndStore struct {
	Domain      Domain `json:"domain,omitempty"`
	Certificate []byte `json:"certificate,omitempty"`
	Key         []byte `json:"key,omitempty"`
	Store       string
}

// storedData is one resolver's entry in acme.json.
type storedData struct {
	Account      *Account
	Certificates []*CertAndStore
}

// FileStore is Traefik's acme.json: one JSON object with an entry per
// resolver, written with mode 0600. Resolvers naming the same file share
// one FileStore ([Manager] sees to it). It refuses a file that others can
// read, as Traefik does.
type FileStore struct {
	path string
	mu   sync.Mutex
	data map[string]*storedData // nil until read
}

// NewFileStore returns the store of the file at path (created on first
// save).
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

func (s *FileStore) load() error {
	if s.data != nil {
		return nil
	}
	data := map[string]*storedData{}
	f, err := os.Open(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.data = data
		return nil
	case err != nil:
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("permissions %o for %s are too open, please use 600", fi.Mode().Perm(), s.path)
	}
	if fi.Size() > 0 {
		if err := json.NewDecoder(f).Decode(&data); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
	}
	for _, d := range data {
		if d == nil {
			continue
		}
		// As Traefik: entries without certificate or key are dropped.
		d.Certificates = slices.DeleteFunc(d.Certificates, func(c *CertAndStore) bool {
			return c == nil || len(c.Certificate) == 0 || len(c.Key) == 0
		})
	}
	s.data = data
	return nil
}

func (s *FileStore) entry(resolver string) *storedData {
	d := s.data[resolver]
	if d == nil {
		d = &storedData{}
		s.data[resolver] = d
	}
	return d
}

// Load implements Store.
func (s *FileStore) Load(_ context.Context, resolver string) (*Account, []*CertAndStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, nil, err
	}
	d := s.entry(resolver)
	return d.Account, slices.Clone(d.Certificates), nil
}

// SaveAccount implements Store.
func (s *FileStore) SaveAccount(_ context.Context, resolver string, a *Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	s.entry(resolver).Account = a
	return s.write()
}

// SaveCertificate implements Store.
func (s *FileStore) SaveCertificate(_ context.Context, resolver string, c *CertAndStore) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return err
	}
	d := s.entry(resolver)
	d.Certificates = replaceCert(d.Certificates, c)
	return s.write()
}

// replaceCert returns certs with c replacing the certificate of its
// Domain, or appended.
func replaceCert(certs []*CertAndStore, c *CertAndStore) []*CertAndStore {
	out := slices.Clone(certs)
	for i, have := range out {
		if have.Domain.equal(c.Domain) {
			out[i] = c
			return out
		}
	}
	return append(out, c)
}

// write saves the whole file: a temporary file renamed over it, so that a
// crash never leaves half a file; in place when the rename fails (a file
// mounted on its own).
func (s *FileStore) write() error {
	out, err := json.MarshalIndent(s.data, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err == nil {
		if err := os.Rename(tmp, s.path); err == nil {
			return nil
		}
		os.Remove(tmp)
	}
	return os.WriteFile(s.path, out, 0o600)
}
