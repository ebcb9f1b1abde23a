package acme

import (
	"context"
	"log/slog"
	"testing"
)

// mapStore is a ChallengeStore in memory: another replica's writes.
type mapStore map[string][]byte

func (m mapStore) PutChallenge(_ context.Context, k string, v []byte) error { m[k] = v; return nil }
func (m mapStore) DeleteChallenge(_ context.Context, k string) error        { delete(m, k); return nil }
func (m mapStore) GetChallenge(_ context.Context, k string) ([]byte, bool, error) {
	v, ok := m[k]
	return v, ok, nil
}

// HTTP-01 answers as Traefik's ChallengeHTTP: the token of the path
// (one optional trailing slash), for the Host without its port; and, with
// a shared store, what another replica presented.
func TestHTTPChallengeAnswers(t *testing.T) {
	own := newChallenges(slog.New(slog.DiscardHandler))
	if err := (httpProvider{own}).Present(context.Background(), "a.test", "tok", "tok.key"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, path string
		want       string
	}{
		{"a.test", "/.well-known/acme-challenge/tok", "tok.key"},
		{"a.test:8000", "/.well-known/acme-challenge/tok/", "tok.key"},
		{"b.test", "/.well-known/acme-challenge/tok", ""},
		{"a.test", "/.well-known/acme-challenge/other", ""},
		{"a.test", "/.well-known/acme-challenge/tok/x", ""},
	} {
		got, ok := own.httpAnswer(tc.host, tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s %s: %q %v, want %q", tc.host, tc.path, got, ok, tc.want)
		}
	}
	(httpProvider{own}).CleanUp(context.Background(), "a.test", "tok", "")
	if _, ok := own.httpAnswer("a.test", "/.well-known/acme-challenge/tok"); ok {
		t.Error("answered after CleanUp")
	}

	shared := mapStore{}
	presenter, other := newChallenges(slog.New(slog.DiscardHandler)), newChallenges(slog.New(slog.DiscardHandler))
	presenter.shared, other.shared = shared, shared
	(httpProvider{presenter}).Present(context.Background(), "a.test", "tok2", "tok2.key")
	(alpnProvider{presenter}).Present(context.Background(), "A.test", "", "alpn.key")
	if got, ok := other.httpAnswer("a.test", "/.well-known/acme-challenge/tok2"); !ok || got != "tok2.key" {
		t.Errorf("shared HTTP-01: %q %v", got, ok)
	}
	if c := other.alpnCertificate("a.test"); c == nil || c.Leaf == nil && len(c.Certificate) == 0 {
		t.Error("shared TLS-ALPN-01: no certificate")
	}
	(httpProvider{presenter}).CleanUp(context.Background(), "a.test", "tok2", "")
	(alpnProvider{presenter}).CleanUp(context.Background(), "a.test", "", "")
	if len(shared) != 0 {
		t.Errorf("left in the shared store: %v", shared)
	}
	if _, ok := other.httpAnswer("a.test", "/.well-known/acme-challenge/tok2"); ok {
		t.Error("answered after the presenter's CleanUp")
	}
}
