package manifest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// writeTree creates files (path → content) below dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func svc(name string) string {
	return strings.Replace(service, "name: whoami", "name: "+name, 1)
}

// sourceFiles lists the files the Services came from, relative to dir.
func sourceFiles(t *testing.T, dir string, o *Objects) []string {
	t.Helper()
	var out []string
	for _, s := range o.Services {
		rel, err := filepath.Rel(dir, s.Source.File)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(rel)+":"+s.Name)
	}
	return out
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"b.yaml":                  svc("b"),
		"a.yml":                   svc("a"),
		"a/z.json":                `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "az"}}`,
		"a/deeper/nested/x.yaml":  svc("nested"),
		"c/notes.txt":             svc("txt-ignored"),
		"c/README.md":             "# not a manifest",
		"c/upper.YAML":            svc("upper-ignored"),
		".hidden.yaml":            svc("hidden-ignored"),
		".git/config.yaml":        svc("git-ignored"),
		"d/empty.yaml":            "",
		"d/deployment.yaml":       "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
		"e/ingressroute.yaml":     ingressRoute,
		"e/broken/ingressroute.y": "not read",
	})

	objs, problems := Load(dir)
	want := []string{"a.yml:a", "a/deeper/nested/x.yaml:nested", "a/z.json:az", "b.yaml:b"}
	if got := sourceFiles(t, dir, objs); !slices.Equal(got, want) {
		t.Errorf("services from %q, want %q", got, want)
	}
	if len(objs.IngressRoutes) != 1 {
		t.Errorf("got %d IngressRoutes", len(objs.IngressRoutes))
	}
	if len(problems) != 1 || problems[0].Severity != Ignored || problems[0].Kind != "Deployment" ||
		problems[0].File != filepath.Join(dir, "d", "deployment.yaml") {
		t.Errorf("problems = %v", problems)
	}

	// The result must not depend on anything but the files.
	again, againProblems := Load(dir)
	if !reflect.DeepEqual(objs, again) || !reflect.DeepEqual(problems, againProblems) {
		t.Error("two loads of the same tree differ")
	}
}

func TestLoadPaths(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"one.yaml":       svc("one"),
		"two/two.yaml":   svc("two"),
		"manifest.txt":   svc("explicit"),
		".explicit.yaml": svc("hidden-but-named"),
	})
	one := filepath.Join(dir, "one.yaml")
	objs, problems := Load(
		filepath.Join(dir, "two"),
		one,
		one, // read once only
		dir, // reaches one.yaml again, and two/two.yaml again
		filepath.Join(dir, "manifest.txt"),
		filepath.Join(dir, ".explicit.yaml"),
		filepath.Join(dir, "missing.yaml"),
	)
	want := []string{"two/two.yaml:two", "one.yaml:one", "manifest.txt:explicit", ".explicit.yaml:hidden-but-named"}
	if got := sourceFiles(t, dir, objs); !slices.Equal(got, want) {
		t.Errorf("services from %q, want %q", got, want)
	}
	if len(problems) != 1 || problems[0].Severity != Error || problems[0].File != filepath.Join(dir, "missing.yaml") ||
		!os.IsNotExist(problems[0].Err) {
		t.Errorf("problems = %v", problems)
	}
}

// TestLoadConfigMapVolume reproduces the layout of a ConfigMap mounted as
// a volume: the keys are symbolic links into a hidden, timestamped
// directory reached through the "..data" link.
func TestLoadConfigMapVolume(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"..2024_05_01_10_00_00.123/routes.yaml":   ingressRoute,
		"..2024_05_01_10_00_00.123/services.yaml": svc("from-configmap"),
	})
	links := map[string]string{
		"..data":        "..2024_05_01_10_00_00.123",
		"routes.yaml":   "..data/routes.yaml",
		"services.yaml": "..data/services.yaml",
		"linked-dir":    "..data",           // a link to a directory is not walked
		"dangling.yaml": "..data/gone.yaml", // a broken link is reported
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Skipf("symbolic links unavailable: %v", err)
		}
	}
	objs, problems := Load(dir)
	want := []string{"services.yaml:from-configmap"}
	if got := sourceFiles(t, dir, objs); !slices.Equal(got, want) {
		t.Errorf("services from %q, want %q", got, want)
	}
	if len(objs.IngressRoutes) != 1 || objs.IngressRoutes[0].Source.File != filepath.Join(dir, "routes.yaml") {
		t.Errorf("IngressRoutes = %q", kinds(objs))
	}
	if len(problems) != 1 || problems[0].File != filepath.Join(dir, "dangling.yaml") || problems[0].Severity != Error {
		t.Errorf("problems = %v", problems)
	}
}

func TestLoadDuplicatesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"1-base.yaml":     svc("web"),
		"2-override.yaml": strings.Replace(svc("web"), "port: 80", "port: 8080", 1),
	})
	objs, problems := Load(dir)
	if len(objs.Services) != 1 || objs.Services[0].Spec.Ports[0].Port != 8080 {
		t.Fatalf("services = %q", kinds(objs))
	}
	if len(problems) != 1 || problems[0].Severity != Warning || problems[0].File != filepath.Join(dir, "1-base.yaml") ||
		!strings.Contains(problems[0].Error(), "2-override.yaml:1 (document 1)") {
		t.Errorf("problems = %v", problems)
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("permissions are not enforced for root")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"secret.yaml": svc("x"), "ok.yaml": svc("y")})
	if err := os.Chmod(filepath.Join(dir, "secret.yaml"), 0); err != nil {
		t.Fatal(err)
	}
	objs, problems := Load(dir)
	if len(objs.Services) != 1 || len(problems) != 1 || problems[0].Severity != Error {
		t.Errorf("objects %q, problems %v", kinds(objs), problems)
	}
}
