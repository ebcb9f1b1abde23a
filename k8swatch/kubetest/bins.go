package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Bins returns the directory holding the kube-apiserver and etcd binaries:
// $EDGEROUTE_KUBE_BINS when set, otherwise the last line that the repository's
// hack/kube-test-bins.sh prints. The script builds the binaries when they are
// missing (minutes, once per machine) and waits while another process builds
// them; its progress goes to os.Stderr.
func Bins() (string, error) {
	if dir := os.Getenv("EDGEROUTE_KUBE_BINS"); dir != "" {
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "hack", "kube-test-bins.sh"))
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubetest: hack/kube-test-bins.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", errors.New("kubetest: hack/kube-test-bins.sh printed no directory")
	}
	return dir, nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kubetest: no go.mod above the working directory; set EDGEROUTE_KUBE_BINS")
		}
		dir = parent
	}
}
