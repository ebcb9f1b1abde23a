package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatic(t *testing.T) {
	s, err := ParseStatic([]string{
		"--entryPoints.web.address=:8000",
		"--ENTRYPOINTS.Web.ForwardedHeaders.Insecure", // keys are case-insensitive; bare flags are true
		"--entrypoints.web.forwardedheaders.trustedIPs=10.0.0.0/8,192.168.0.1",
		"--providers.manifests.directory=/x",
		"--providers.kubernetesCRD.allowCrossNamespace=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	ep := s.EntryPoints["web"]
	if len(s.EntryPoints) != 1 || ep.Address != ":8000" || !ep.ForwardedHeaders.Insecure ||
		strings.Join(ep.ForwardedHeaders.TrustedIPs, "|") != "10.0.0.0/8|192.168.0.1" || s.ManifestsDir != "/x" || !s.AllowCrossNamespace {
		t.Errorf("parsed %+v %+v", s, ep)
	}
	// Defaults: Traefik's Helm chart entry points.
	s, _ = ParseStatic(nil)
	if len(s.EntryPoints) != 3 || s.EntryPoints["web"].Address != ":8000" || s.EntryPoints["websecure"].Address != ":8443" ||
		s.EntryPoints["traefik"].Address != ":8080" || !s.EntryPoints["web"].SanitizePath || s.EntryPoints["web"].ReadTimeout != 60*time.Second {
		t.Errorf("defaults: %+v", s.EntryPoints)
	}
	for _, bad := range [][]string{{"--entryPoints.web.adress=:1"}, {"--nope"}, {"--entryPoints.web.address=nope"}, {"positional"}, {"--ping=maybe"}, {"--metrics.prometheus.headerLabels.x=y"}, {"--api.debug"}, {"--api.basePath=nope"}, {"--metrics.prometheus.buckets=1,0.5"}, {"--entryPoints.web.address=:1", "--metrics.prometheus.entryPoint=nope"}} {
		if _, err := ParseStatic(bad); err == nil {
			t.Errorf("ParseStatic(%q) accepted", bad)
		}
	}
}

func TestParseStaticConfigFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "traefik.yaml")
	os.WriteFile(f, []byte(`
entryPoints:
  web:
    address: ":8000"
    forwardedHeaders:
      trustedIPs: ["10.0.0.0/8"]
    transport:
      lifeCycle:
        graceTimeOut: 3s
  metrics:
    address: ":9100"
providers:
  manifests:
    directory: /etc/edgeroute
ping: {}
`), 0o644)
	s, err := ParseStatic([]string{"--configFile=" + f, "--entryPoints.web.address=:9000"})
	if err != nil {
		t.Fatal(err)
	}
	if s.EntryPoints["web"].Address != ":9000" || s.EntryPoints["metrics"].Address != ":9100" || s.GraceTimeout != 3*time.Second ||
		s.ManifestsDir != "/etc/edgeroute" || !s.Ping || s.EntryPoints["web"].ForwardedHeaders.TrustedIPs[0] != "10.0.0.0/8" {
		t.Errorf("parsed %+v web=%+v", s, s.EntryPoints["web"])
	}
}

func TestParseStaticEncodedCharacters(t *testing.T) {
	s, err := ParseStatic([]string{"--entryPoints.web.address=:80", "--entryPoints.web.http.encodedCharacters.allowEncodedSlash=false",
		"--entrypoints.web.http.encodedcharacters.ALLOWENCODEDHASH=false"})
	if err != nil {
		t.Fatal(err)
	}
	want := EncodedCharacters{AllowEncodedBackSlash: true, AllowEncodedNullCharacter: true, AllowEncodedSemicolon: true,
		AllowEncodedPercent: true, AllowEncodedQuestionMark: true}
	if got := s.EntryPoints["web"].EncodedCharacters; got == nil || *got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if s, err = ParseStatic([]string{"--entryPoints.web.address=:80"}); err != nil || s.EntryPoints["web"].EncodedCharacters != nil {
		t.Errorf("unset: %+v %v (Traefik: every encoded character allowed)", s.EntryPoints["web"].EncodedCharacters, err)
	}
	if _, err := ParseStatic([]string{"--entryPoints.web.http.encodedCharacters.allowEncodedSlosh=false"}); err == nil {
		t.Error("a misspelt key was accepted")
	}
	if _, err := ParseStatic([]string{"--entryPoints.web.http.encodedCharacters.allowEncodedSlash=maybe"}); err == nil {
		t.Error("a non-boolean was accepted")
	}
}
