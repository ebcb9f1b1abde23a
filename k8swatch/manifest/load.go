package manifest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// extensions lists the file name extensions Load reads when walking a
// directory, the same ones kubectl apply -f DIR reads. Matching is
// case-sensitive, as in kubectl.
var extensions = []string{".yaml", ".yml", ".json"}

// Load reads Kubernetes manifests from files and directories and decodes
// them (see Decode).
//
// A path naming a file is read whatever its name. A path naming a
// directory is walked recursively, and only its files ending in .yaml,
// .yml or .json are read. While walking, entries whose name starts with
// '.' are skipped: editor and VCS files, and the timestamped "..2024_..."
// directory and "..data" link a mounted Kubernetes ConfigMap holds next to
// its keys. A symbolic link to a file is followed, which is how the
// visible files of a mounted ConfigMap ("routes.yaml -> ..data/routes.yaml")
// are read exactly once; a symbolic link to a directory is not descended
// into, which keeps the walk finite.
//
// Paths are read in the order given, and the files of a directory in
// lexical order of their path, so the result is deterministic. A file
// reached twice is read once. When the same object (same apiVersion, kind,
// namespace and name) appears more than once, the last one read wins, as
// it would with kubectl apply, and each replaced one is reported as a
// Warning.
//
// Load never fails as a whole: unreadable paths and bad documents become
// Problems, and every other object is returned. The *Objects is never
// nil.
func Load(paths ...string) (*Objects, []Problem) {
	d := &decoder{objs: &Objects{}}
	seen := map[string]bool{}
	for _, root := range paths {
		for _, file := range d.collect(root) {
			key := file
			if abs, err := filepath.Abs(file); err == nil {
				key = abs
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			data, err := os.ReadFile(file)
			if err != nil {
				d.add(Problem{Severity: Error, File: file, Err: unwrapPathError(err)})
				continue
			}
			d.file(file, data, true)
		}
	}
	d.flush()
	d.problems = append(d.problems, d.objs.dedupe()...)
	return d.objs, d.problems
}

// collect returns the files to read for one path argument, sorted.
func (d *decoder) collect(root string) []string {
	info, err := os.Stat(root)
	if err != nil {
		d.add(Problem{Severity: Error, File: root, Err: unwrapPathError(err)})
		return nil
	}
	if !info.IsDir() {
		return []string{root}
	}
	var files []string
	walkErr := filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable directory is reported and skipped; the rest of
			// the tree is still read.
			d.add(Problem{Severity: Error, File: path, Err: unwrapPathError(err)})
			if entry != nil && entry.IsDir() && path != root {
				return fs.SkipDir
			}
			return nil
		}
		if path == root {
			return nil
		}
		if strings.HasPrefix(entry.Name(), ".") {
			if entry.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if entry.IsDir() || !hasManifestExtension(entry.Name()) {
			return nil
		}
		if entry.Type()&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				d.add(Problem{Severity: Error, File: path, Err: unwrapPathError(err)})
				return nil
			}
			if !target.Mode().IsRegular() {
				return nil
			}
		} else if !entry.Type().IsRegular() {
			return nil // sockets, devices and the like
		}
		files = append(files, path)
		return nil
	})
	if walkErr != nil {
		d.add(Problem{Severity: Error, File: root, Err: unwrapPathError(walkErr)})
	}
	slices.Sort(files)
	return files
}

func hasManifestExtension(name string) bool {
	return slices.ContainsFunc(extensions, func(ext string) bool {
		return strings.HasSuffix(name, ext)
	})
}

// unwrapPathError drops the path from a *fs.PathError, since Problem.File
// already names it.
func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
