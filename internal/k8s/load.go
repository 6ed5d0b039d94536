package k8s

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultMaxFileSize is the largest manifest file read by default.
const DefaultMaxFileSize = 32 << 20

// Loader reads manifests from paths.
type Loader struct {
	// Stdin is read for the path "-".
	Stdin io.Reader
	// MaxFileSize bounds each file (and standard input); 0 means
	// DefaultMaxFileSize.
	MaxFileSize int64
}

// manifestExt lists the extensions read when walking a directory, as
// kubectl -R does.
var manifestExt = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// Load reads every object from paths: files (any extension), directories
// (recursively, .yaml/.yml/.json files) and "-" for standard input. It
// returns the objects it could read and every error, joined; each error
// names its file and, where known, its line.
func (l Loader) Load(paths ...string) ([]*Object, error) {
	var out []*Object
	var errs []error
	for _, p := range paths {
		files, err := Files(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			objs, err := l.LoadFile(f)
			out = append(out, objs...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return out, errors.Join(errs...)
}

// Files lists the manifest files a path stands for: the file itself, "-",
// or the .yaml, .yml and .json files under a directory, in lexical order.
func Files(p string) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, unwrapPathErr(err))
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", path, unwrapPathErr(err))
		}
		if d.IsDir() {
			if path != p && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if manifestExt[strings.ToLower(filepath.Ext(path))] {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadFile reads one file ("-" for standard input).
func (l Loader) LoadFile(name string) ([]*Object, error) {
	data, err := l.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return Decode(name, data)
}

// ReadFile reads one file ("-" for standard input) within the size limit.
func (l Loader) ReadFile(name string) ([]byte, error) {
	max := l.MaxFileSize
	if max <= 0 {
		max = DefaultMaxFileSize
	}
	var r io.Reader
	if name == "-" {
		if l.Stdin == nil {
			return nil, errors.New("-: no standard input")
		}
		r = l.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, unwrapPathErr(err))
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.Size() > max {
			return nil, &DecodeError{File: name, Err: tooLarge(info.Size(), max)}
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, &DecodeError{File: name, Err: err}
	}
	if int64(len(data)) > max {
		return nil, &DecodeError{File: name, Err: tooLarge(int64(len(data)), max)}
	}
	return data, nil
}

func tooLarge(size, max int64) error {
	return fmt.Errorf("file is larger than the %d MiB limit (%.1f MiB or more); raise it with --max-file-size", max>>20, float64(size)/(1<<20))
}
