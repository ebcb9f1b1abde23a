// Package dashboard is edgeroute's dashboard: a static page (HTML, CSS and
// JavaScript, embedded, no build step) that reads the API from ../api/ and
// lists the routers, services with their servers' health, middlewares and
// problems, with a form for /api/explain. It is served as Traefik serves
// its own: by dashboard@internal (the page at "/", its files below: the
// router strips /dashboard), and by api@internal under
// api.basePath/dashboard/ when the dashboard is on.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
)

//go:embed static
var static embed.FS

// Files are the dashboard's files: index.html and what it loads.
var Files, _ = fs.Sub(static, "static")

// csp is Traefik's header on the dashboard's answers.
const csp = "frame-src 'self' https://traefik.io https://*.traefik.io;"

// Handler is the handler of dashboard@internal (Traefik's
// dashboard.Handler): the page for "/", the files otherwise.
type Handler struct{}

func (Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", csp)
	if r.RequestURI == "/" {
		index(w)
		return
	}
	http.FileServerFS(Files).ServeHTTP(w, r)
}

// index writes the page.
func index(w http.ResponseWriter) {
	page, err := fs.ReadFile(Files, "index.html")
	if err != nil {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

// ServeAPI serves the dashboard's routes of api@internal (Traefik's
// dashboard.Append), for the escaped path p under basePath (without its
// trailing slash): GET basePath redirects (302) to basePath/dashboard/
// (behind X-Forwarded-Prefix), which serves the page, and the files
// below it. It reports whether p was one of them.
func ServeAPI(w http.ResponseWriter, r *http.Request, p, basePath string) bool {
	if r.Method != http.MethodGet {
		return false
	}
	dashboardPath := basePath + "/dashboard/"
	root := basePath
	if root == "" {
		root = "/"
	}
	switch {
	case p == root:
		prefix := r.Header.Get("X-Forwarded-Prefix")
		// As Traefik: an absolute URL there is refused, the rest is the
		// trusted upstream's responsibility.
		if u, err := url.Parse(prefix); err != nil || u.Host != "" || u.Scheme != "" {
			prefix = ""
		}
		http.Redirect(w, r, strings.TrimSuffix(prefix, "/")+dashboardPath, http.StatusFound)
	case p == dashboardPath:
		w.Header().Set("Content-Security-Policy", csp)
		index(w)
	case strings.HasPrefix(p, dashboardPath):
		w.Header().Set("Content-Security-Policy", csp)
		http.StripPrefix(dashboardPath, http.FileServerFS(Files)).ServeHTTP(w, r)
	default:
		return false
	}
	return true
}
