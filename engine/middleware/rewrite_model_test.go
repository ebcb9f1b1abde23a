package middleware

import (
	"math/rand"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile"
)

// The path-rewriting kinds, checked against a model: Traefik's documented
// algorithm of each kind restated on Go's net/url (the url.URL that
// Traefik's middlewares edit), run on random paths through random chains
// of kinds. Path, RawPath, what is forwarded (the last rewrite's
// RequestURI), the headers and the 400/500 answers must all agree.

// modelKind edits u and h as Traefik's middleware would and returns the
// status it answers (200: next) and, for an error, its message.
type modelKind struct {
	kind, config string
	apply        func(u *url.URL, h http.Header) (int, string)
}

func modelEnsureSlash(s string) string {
	if s == "" || s[0] == '/' {
		return s
	}
	return "/" + s
}

// modelJoin is Traefik's "JoinPath a non-empty path, 400 if it changed".
func modelJoin(u *url.URL) (int, string) {
	if p := u.Path; p != "" {
		*u = *u.JoinPath()
		if u.Path != p {
			return 400, "Bad Request"
		}
	}
	return 200, ""
}

func modelCurrent(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.EscapedPath()
}

func modelAddPrefix(prefix string) modelKind {
	return modelKind{"addPrefix", `{"prefix":` + jsonString(prefix) + `}`, func(u *url.URL, h http.Header) (int, string) {
		u.Path = modelEnsureSlash(prefix + u.Path)
		if u.RawPath != "" {
			u.RawPath = modelEnsureSlash(prefix + u.RawPath)
		}
		return 200, ""
	}}
}

func modelStripPrefix(prefix string, force bool) modelKind {
	config := `{"prefixes":[` + jsonString(prefix) + `]}`
	strip := func(s string) string {
		if force {
			return "/" + strings.TrimPrefix(s, "/")
		}
		return modelEnsureSlash(s)
	}
	if force {
		config = `{"prefixes":[` + jsonString(prefix) + `],"forceSlash":true}`
	}
	return modelKind{"stripPrefix", config, func(u *url.URL, h http.Header) (int, string) {
		if !strings.HasPrefix(u.Path, prefix) {
			return 200, ""
		}
		u.Path = strip(u.Path[len(prefix):])
		if u.RawPath != "" {
			u.RawPath = strip(u.RawPath[encodedPrefixLen([]byte(u.RawPath), len(prefix)):])
		}
		if st, msg := modelJoin(u); st != 200 {
			return st, msg
		}
		h.Add(ForwardedPrefix, prefix)
		return 200, ""
	}}
}

func modelReplacePath(path string) modelKind {
	return modelKind{"replacePath", `{"path":` + jsonString(path) + `}`, func(u *url.URL, h http.Header) (int, string) {
		h.Add(ReplacedPath, modelCurrent(u))
		p, err := url.PathUnescape(path)
		if err != nil {
			return 500, err.Error()
		}
		u.Path, u.RawPath = p, path
		return 200, ""
	}}
}

func modelReplacePathRegex(regex, repl string) modelKind {
	re := regexp.MustCompile(strings.TrimSpace(regex))
	return modelKind{"replacePathRegex", rx(regex, repl), func(u *url.URL, h http.Header) (int, string) {
		cur := modelCurrent(u)
		if !re.MatchString(cur) {
			return 200, ""
		}
		h.Add(ReplacedPath, cur)
		raw := re.ReplaceAllString(cur, strings.TrimSpace(repl))
		p, err := url.PathUnescape(raw)
		if err != nil {
			return 500, err.Error()
		}
		u.Path, u.RawPath = p, raw
		return modelJoin(u)
	}}
}

func modelStripPrefixRegex(regex ...string) modelKind {
	var res []*regexp.Regexp
	for _, s := range regex {
		res = append(res, regexp.MustCompile(strings.TrimSpace(s)))
	}
	return modelKind{"stripPrefixRegex", spr(regex...), func(u *url.URL, h http.Header) (int, string) {
		for _, re := range res {
			m := re.FindString(u.Path)
			if m == "" || !strings.HasPrefix(u.Path, m) {
				continue
			}
			h.Add(ForwardedPrefix, m)
			u.Path = modelEnsureSlash(u.Path[len(m):])
			if u.RawPath != "" {
				u.RawPath = modelEnsureSlash(u.RawPath[encodedPrefixLen([]byte(u.RawPath), len(m)):])
			}
			return modelJoin(u)
		}
		return 200, ""
	}}
}

func TestRewriteModel(t *testing.T) {
	kinds := []modelKind{
		modelAddPrefix("/a"),
		modelAddPrefix("b c"),
		modelStripPrefix("/a", false),
		modelStripPrefix("/a", true),
		modelReplacePath("/a b"),
		modelReplacePath("/x%2Fy"),
		modelReplacePath("a/b"),
		modelReplacePath(""),
		modelReplacePath("/a%2"),
		modelReplacePathRegex(`^/a(.*)`, "/$1"),
		modelReplacePathRegex(`a`, "b"),
		modelReplacePathRegex(`^/(.*)`, "$1"),
		modelReplacePathRegex(`%2F`, "/"),
		modelReplacePathRegex(`/`, "%2f"),
		modelReplacePathRegex(`(%)2`, "$1"),
		modelReplacePathRegex(`b`, "a b"),
		modelReplacePathRegex(`c`, "."),
		modelStripPrefixRegex("/a"),
		modelStripPrefixRegex("/$", "b"),
		modelStripPrefixRegex("^/[ab]+"),
		modelStripPrefixRegex("/a/"),
		modelStripPrefixRegex("/ ", "x*"),
		modelStripPrefixRegex("/./"),
	}
	built := make([]Middleware, len(kinds))
	for i, k := range kinds {
		built[i] = buildOne(t, k.kind, k.config)
	}
	pieces := []string{"/", "/", "a", "b", "c", "%2F", "%20", ".", "..", "%25", "{", "%08", "%2E", "%C3%A9", "//"}
	rng := rand.New(rand.NewSource(1))
	runs := 100000
	if testing.Short() {
		runs = 10000
	}
	var ctx fasthttp.RequestCtx
	var r Request
	for range runs {
		target := "/"
		for k := rng.Intn(6); k > 0; k-- {
			target += pieces[rng.Intn(len(pieces))]
		}
		chain := make([]int, 1+rng.Intn(3))
		for i := range chain {
			chain[i] = rng.Intn(len(kinds))
		}
		desc := func() string {
			s := target
			for _, c := range chain {
				s += " " + kinds[c].kind + kinds[c].config
			}
			return s
		}
		// The entry point's normalised, sanitised path, as Go parses it.
		esc, err := compile.AppendNormalizedPath(nil, []byte(target), true)
		if err != nil {
			continue
		}
		u, err := url.ParseRequestURI(string(esc))
		if err != nil {
			continue
		}
		h := http.Header{}
		// Unrewritten, the path goes out as Go escapes it: as received
		// when that is a valid encoding.
		status, msg, forwarded := 200, "", u.EscapedPath()
		for _, c := range chain {
			n := len(h.Values(ReplacedPath)) + len(h.Values(ForwardedPrefix))
			before := *u
			status, msg = kinds[c].apply(u, h)
			if status != 200 {
				break
			}
			// Each kind sets RequestURI when it rewrites.
			if kinds[c].kind == "addPrefix" || *u != before || n != len(h.Values(ReplacedPath))+len(h.Values(ForwardedPrefix)) {
				forwarded = u.EscapedPath()
			}
		}

		ms := make([]Middleware, len(chain))
		for i, c := range chain {
			ms[i] = built[c]
		}
		var gotEsc, gotRaw, gotPath string
		ctx.Request.Header.Reset()
		ctx.Response.Reset()
		r.Reset(esc)
		Wrap(func(_ *fasthttp.RequestCtx, r *Request) {
			gotEsc, gotRaw, gotPath = string(r.EscapedPath()), string(r.RawPath()), string(r.Path())
		}, ms...)(&ctx, &r)
		if st := ctx.Response.StatusCode(); st != status || st != 200 && string(ctx.Response.Body()) != msg+"\n" {
			t.Fatalf("%s: %d %q, want %d %q", desc(), st, ctx.Response.Body(), status, msg)
		}
		if status != 200 {
			continue
		}
		if gotEsc != forwarded || gotPath != u.Path || gotRaw != u.RawPath {
			t.Fatalf("%s: forwarded %q, raw %q, path %q; want %q, %q, %q", desc(), gotEsc, gotRaw, gotPath, forwarded, u.RawPath, u.Path)
		}
		for _, name := range []string{ReplacedPath, ForwardedPrefix} {
			var got []string
			for _, v := range ctx.Request.Header.PeekAll(name) {
				got = append(got, string(v))
			}
			if !slices.Equal(got, h.Values(name)) {
				t.Fatalf("%s: %s %q, want %q", desc(), name, got, h.Values(name))
			}
		}
	}
}
