package engine

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// readLines waits (bounded) for n lines in the access-log file.
func readLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var lines []string
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			f.Close()
		}
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Access-log lines in Traefik's common format, one per request, with
// the router, the server and the status; filters keep only what they
// match.
func TestAccessLogCommon(t *testing.T) {
	up := backend(t, "a")
	snap := lbSnap([]spec.Router{{Name: "api@kubernetescrd", Rule: "PathPrefix(`/api`)", Service: "svc@kubernetescrd"}}, map[string]string{"svc@kubernetescrd": up})
	path := filepath.Join(t.TempDir(), "access.log")
	_, base := startServer(t, snap, "--accessLog.filePath="+path)
	get(t, base+"/api/x?q=1", "a.test", "User-Agent: probe/1.0", "Referer: http://r.test/")
	get(t, base+"/missing", "a.test")
	lines := readLines(t, path, 2)
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	re := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /api/x\?q=1 HTTP/1\.1" 200 (\d+) "http://r\.test/" "probe/1\.0" (\d+) "api@kubernetescrd" "` +
		regexp.QuoteMeta(up) + `" \d+ms$`)
	if !re.MatchString(lines[0]) {
		t.Errorf("line %q does not match %s", lines[0], re)
	}
	re404 := regexp.MustCompile(`^127\.0\.0\.1 - - \[[^]]+\] "GET /missing HTTP/1\.1" 404 19 "-" "Go-http-client/1\.1" \d+ "-" "-" \d+ms$`)
	if !re404.MatchString(lines[1]) {
		t.Errorf("line %q does not match %s", lines[1], re404)
	}
}

func TestAccessLogJSONAndFilters(t *testing.T) {
	up := backend(t, "a")
	snap := lbSnap([]spec.Router{{Name: "api@kubernetescrd", Rule: "PathPrefix(`/api`)", Service: "svc@kubernetescrd"}}, map[string]string{"svc@kubernetescrd": up})
	path := filepath.Join(t.TempDir(), "access.json")
	_, base := startServer(t, snap, "--accessLog.filePath="+path, "--accessLog.format=json",
		"--accessLog.filters.statusCodes=400-499", "--accessLog.fields.names.ClientUsername=drop",
		"--accessLog.fields.headers.defaultMode=keep", "--accessLog.fields.headers.names.Authorization=redact")
	get(t, base+"/api/x", "a.test") // 200: filtered out
	get(t, base+"/missing", "a.test", "Authorization: Bearer secret")
	get(t, base+"/missing2", "a.test")
	// Lines keep the requests' order: had the 200 been logged, it would
	// be among the first two.
	lines := readLines(t, path, 2)
	if len(lines) != 2 || !strings.Contains(lines[1], `"/missing2"`) {
		t.Fatalf("lines: %q (the 200 should be filtered out)", lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("%v: %s", err, lines[0])
	}
	for k, want := range map[string]any{"DownstreamStatus": 404.0, "RequestMethod": "GET", "RequestPath": "/missing",
		"RequestProtocol": "HTTP/1.1", "RequestHost": "a.test", "ClientHost": "127.0.0.1", "request_Authorization": "REDACTED",
		"DownstreamContentSize": 19.0, "level": "info", "RequestScheme": "http"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if _, ok := m["ClientUsername"]; ok {
		t.Errorf("ClientUsername kept despite drop")
	}
	if !strings.HasPrefix(lines[0], `{"ClientAddr":`) {
		t.Errorf("keys not sorted: %.40s", lines[0])
	}
}

// ClientUsername is the user an authentication middleware accepted:
// basicAuth's, and forwardAuth's headerField (the auth server's answer
// header, as Traefik records it).
func TestAccessLogClientUsername(t *testing.T) {
	up := backend(t, "a")
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth-User", "carol")
	}))
	t.Cleanup(auth.Close)
	snap := withMiddlewares(lbSnap([]spec.Router{
		{Name: "basic", Rule: "PathPrefix(`/basic`)", Service: "s", Middlewares: []string{"basic@kubernetescrd"}},
		{Name: "fwd", Rule: "PathPrefix(`/fwd`)", Service: "s", Middlewares: []string{"fwd@kubernetescrd"}},
	}, map[string]string{"s": up}),
		// alice:secret ({SHA} of "secret")
		mwDef("basic@kubernetescrd", "basicAuth", `{"users":["alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="]}`),
		mwDef("fwd@kubernetescrd", "forwardAuth", `{"address":"`+auth.URL+`","trustForwardHeader":true,"maxResponseBodySize":1024,"authResponseHeaders":["X-Auth-User"],"headerField":"X-Auth-User"}`))
	path := filepath.Join(t.TempDir(), "access.log")
	_, base := startServer(t, snap, "--accessLog.filePath="+path)
	if code, _ := get(t, base+"/basic", "a.test", "Authorization: Basic YWxpY2U6c2VjcmV0"); code != 200 {
		t.Fatalf("basic: %d", code)
	}
	if code, _ := get(t, base+"/fwd", "a.test"); code != 200 {
		t.Fatalf("fwd: %d", code)
	}
	lines := readLines(t, path, 2)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "127.0.0.1 - alice [") || !strings.HasPrefix(lines[1], "127.0.0.1 - carol [") {
		t.Fatalf("lines: %q", lines)
	}
}
