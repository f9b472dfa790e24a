//go:build mage

// Build, setup and test tasks for Auditlog. Run `go tool mage -l` to list
// them and `go tool mage -h <target>` for one target's help.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/auditlog/auditlog/pkg/libchdb"
	"github.com/auditlog/auditlog/pkg/localgrafana"
	"github.com/magefile/mage/mg"
)

const (
	binary      = "bin/auditlog"
	serverMain  = "./pkg/cmd/auditlog"
	pluginMain  = "./pkg"
	pluginExe   = "gpx_auditlog" // plugin.json "executable"
	demoListen  = "127.0.0.1:8080"
	demoDataDir = ".cache/demo-data"
	lockStamp   = "node_modules/.auditlog-lock-hash"  // sha256 of package-lock.json at the last npm ci
	buildStamp  = "node_modules/.auditlog-build-hash" // hash of the frontend inputs at the last npm run build
	defaultFuzz = "60s"
	// smokeFuzz is a count, not a duration: Go 1.26's fuzz coordinator can
	// fail a target with a bare "context deadline exceeded" when a
	// -fuzztime duration ends while a worker is mid-input (go.dev/issue/75804,
	// fixed in 1.27); a count has no deadline to race. 20,000 inputs take
	// one to five seconds per target here.
	smokeFuzz     = "20000x" // per target, in mage test
	goTestTimeout = "20m"
)

// goPackages is every Go package of the project. Not "./...": npm packages
// in node_modules may carry Go code of their own.
const goPackages = "./pkg/..."

// frontendInputs are what `npm run build` reads: these directories and
// files (missing ones are fine) feed the frontend build stamp.
var frontendInputs = []string{
	"src", ".config", "package.json", "package-lock.json", "plugin.json",
	"tsconfig.json", "webpack.config.ts", "README.md", "CHANGELOG.md", "LICENSE",
}

// chdbLib is the libchdb that setup found or installed.
var chdbLib string

// Setup installs what the project needs (libchdb and the demo GeoIP database
// into the user cache, Go modules, node_modules) and builds everything. It
// skips whatever is already up to date, so running it again is quick.
func Setup(ctx context.Context) error {
	if err := ensureLib(ctx); err != nil {
		return err
	}
	ensureGeoIP(ctx)
	if err := run(ctx, nil, mg.GoCmd(), "mod", "download"); err != nil {
		return err
	}
	if err := ensureNodeModules(ctx); err != nil {
		return err
	}
	return Build(ctx)
}

// Build builds the frontend (when its inputs changed), then bin/auditlog and
// the plugin backend dist/gpx_auditlog_<os>_<arch>.
func Build(ctx context.Context) error {
	// The frontend build may clean dist/, so the Go executable comes after.
	if err := buildFrontend(ctx); err != nil {
		return err
	}
	return buildGo(ctx)
}

// Run runs setup, then the demo server (bin/auditlog demo) in the
// foreground until Ctrl-C. DEMO_LISTEN overrides the address (127.0.0.1:8080).
func Run(ctx context.Context) error {
	if err := Setup(ctx); err != nil {
		return err
	}
	stopGrafana, err := startLocalGrafana(ctx)
	if err != nil {
		return err
	}
	defer stopGrafana()
	listen := envOr("DEMO_LISTEN", demoListen)
	args := []string{"demo", "--listen", listen, "--data", filepath.Join(repoRoot(), demoDataDir)}
	if city := libchdb.GeoIPDemoCity(); city != "" {
		args = append(args, "--geoip-city", city)
	}
	step("run: %s (demo on http://%s, data in %s; Ctrl-C stops it)", commandLine(nil, binary, args), listen, demoDataDir)
	return runForeground(ctx, chdbEnv(), binary, args...)
}

// Test runs setup, go vet, the Go tests, a few seconds of every fuzz
// target and the frontend checks (typecheck, lint, unit tests). Every step
// runs even if an earlier one fails; the target fails at the end, naming
// the failed steps.
func Test(ctx context.Context) error {
	var failed []string
	check := func(name string, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "==> %s failed: %v\n", name, err)
			failed = append(failed, name)
		}
	}
	check("setup", Setup(ctx))
	check("go vet", run(ctx, chdbEnv(), mg.GoCmd(), "vet", goPackages))
	check("go test", run(ctx, chdbEnv(), mg.GoCmd(), "test", "-count=1", "-timeout", goTestTimeout, goPackages))
	if os.Getenv("CLICKHOUSE_ADDR") == "" {
		// go test prints a skip only with -v; say it where the summaries are.
		step("go test: SKIPPED every test of the ClickHouse-server engine: CLICKHOUSE_ADDR is not set (host:port of a server's native protocol runs them)")
	}
	// go test runs each fuzz target on its seed corpus only; a few seconds
	// of real fuzzing per target catches a regression the seeds miss.
	check("fuzz smoke", fuzzAll(ctx, "fuzz smoke", smokeFuzz))
	if hasFrontend() {
		for _, script := range []string{"typecheck", "lint", "test:ci"} {
			check("npm run "+script, run(ctx, nil, "npm", "run", script))
		}
	} else {
		step("frontend checks: skipped, no package.json yet")
	}
	if len(failed) > 0 {
		fmt.Printf("mage test: FAILED steps: %s\n", strings.Join(failed, ", "))
		return fmt.Errorf("failed steps: %s", strings.Join(failed, ", "))
	}
	fmt.Println("mage test: all steps passed")
	return nil
}

// Bench runs setup, then bin/auditlog bench with the arguments in BENCH_ARGS
// (split on spaces; none by default).
func Bench(ctx context.Context) error {
	if err := Setup(ctx); err != nil {
		return err
	}
	args := append([]string{"bench"}, strings.Fields(os.Getenv("BENCH_ARGS"))...)
	step("bench: %s", commandLine(nil, binary, args))
	return runForeground(ctx, chdbEnv(), binary, args...)
}

// Fuzz runs every Go fuzz target in turn for FUZZTIME each (default 60s).
func Fuzz(ctx context.Context) error {
	if err := ensureLib(ctx); err != nil {
		return err
	}
	return fuzzAll(ctx, "mage fuzz", envOr("FUZZTIME", defaultFuzz))
}

// fuzzAll runs every fuzz target, one after another (each fuzzer already
// uses every core), for fuzztime each. Fuzz and Test's smoke step share it.
func fuzzAll(ctx context.Context, label, fuzztime string) error {
	targets, err := fuzzTargets(ctx)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		step("fuzz: no fuzz targets found")
		return nil
	}
	var failed []string
	for _, t := range targets {
		err := run(ctx, chdbEnv(), mg.GoCmd(), "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", fuzztime, t.pkg)
		if err != nil {
			failed = append(failed, t.pkg+"."+t.name)
		}
	}
	if len(failed) > 0 {
		fmt.Printf("%s: FAILED targets: %s\n", label, strings.Join(failed, ", "))
		return fmt.Errorf("failed fuzz targets: %s", strings.Join(failed, ", "))
	}
	fmt.Printf("%s: all %d targets passed (%s each)\n", label, len(targets), fuzztime)
	return nil
}

// Clean removes bin/ and dist/.
func Clean() error {
	for _, p := range []string{"bin", "dist", buildStamp} {
		step("clean: remove %s", p)
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// startLocalGrafana starts a Grafana installed on this machine (GRAFANA_HOME
// or grafana on PATH) on 127.0.0.1:3000 with the plugin from dist/, the
// shipped dashboards and alert rules, and a datasource on its own seeded
// demo data: the demo server holds its data path, and the embedded engine
// allows one process per path. Without a Grafana it says in one line how
// to get the same with Docker. The returned stop ends Grafana.
func startLocalGrafana(ctx context.Context) (stop func(), err error) {
	in, err := localgrafana.Find()
	if err != nil {
		step("grafana: %v", err)
		return func() {}, nil
	}
	state := filepath.Join(repoRoot(), ".cache", "grafana")
	cfg := localgrafana.Config{Repo: repoRoot(), StateDir: state, DataPath: filepath.Join(state, "auditlog-data"),
		GeoIP: libchdb.GeoIPDemoCity(), ChdbLib: chdbLib}
	if _, err := os.Stat(cfg.DataPath); os.IsNotExist(err) {
		args := []string{"demo", "--seed-only", "--data", cfg.DataPath}
		if cfg.GeoIP != "" {
			args = append(args, "--geoip-city", cfg.GeoIP)
		}
		step("grafana: seeding its datasource: %s", commandLine(nil, binary, args))
		if err := run(ctx, chdbEnv(), binary, args...); err != nil {
			return nil, fmt.Errorf("seed Grafana's demo data: %w", err)
		}
	}
	if err := localgrafana.Prepare(cfg); err != nil {
		return nil, err
	}
	cmd := localgrafana.Command(in, cfg)
	logFile, err := os.Create(filepath.Join(state, "logs", "grafana.out"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", in.Bin, err)
	}
	step("grafana: %s (log in %s)", localgrafana.URL(cfg), logFile.Name())
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	}, nil
}

// --- setup steps ---

func ensureLib(ctx context.Context) error {
	if chdbLib != "" {
		return nil
	}
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("CHDB_LIB_PATH=%s: %v (unset it to let setup install libchdb %s)", p, err, libchdb.Version)
		}
		chdbLib = p
		step("libchdb: using CHDB_LIB_PATH=%s", p)
		return nil
	}
	p, err := libchdb.Install(ctx, os.Stdout)
	if err != nil {
		return err
	}
	chdbLib = p
	step("libchdb %s: %s", libchdb.Version, p)
	return nil
}

// ensureGeoIP installs the demo GeoIP database; the demo works without it,
// so a failure is only a warning.
func ensureGeoIP(ctx context.Context) {
	p, err := libchdb.InstallGeoIPDemo(ctx, os.Stdout)
	if err != nil {
		step("warning: demo GeoIP database not installed, the demo runs without locations: %v", err)
		return
	}
	step("geoip demo database (GeoLite2, CC BY-SA 4.0): %s", p)
}

func hasFrontend() bool {
	_, err := os.Stat("package.json")
	return err == nil
}

// ensureNodeModules runs npm ci when node_modules is missing or
// package-lock.json changed since the last npm ci.
func ensureNodeModules(ctx context.Context) error {
	if !hasFrontend() {
		step("frontend: skipped, no package.json yet")
		return nil
	}
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		return fmt.Errorf("frontend: package-lock.json: %v (npm ci needs it: run npm install and commit it)", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	if old, err := os.ReadFile(lockStamp); err == nil && strings.TrimSpace(string(old)) == want {
		step("npm ci: node_modules up to date with package-lock.json (skipped)")
		return nil
	}
	if err := run(ctx, nil, "npm", "ci", "--no-audit", "--no-fund"); err != nil {
		return err
	}
	return writeStamp(lockStamp, want)
}

// --- builds ---

func buildFrontend(ctx context.Context) error {
	if !hasFrontend() {
		step("frontend build: skipped, no package.json yet")
		return nil
	}
	want, err := hashInputs(frontendInputs)
	if err != nil {
		return err
	}
	outputs := []string{"dist/plugin.json", "dist/module.js"}
	if old, err := os.ReadFile(buildStamp); err == nil && strings.TrimSpace(string(old)) == want && allExist(outputs) {
		step("frontend build: up to date (skipped)")
		return nil
	}
	os.Remove(buildStamp)
	if err := run(ctx, nil, "npm", "run", "build"); err != nil {
		return err
	}
	for _, p := range outputs {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("frontend build: npm run build did not produce %s", p)
		}
	}
	return writeStamp(buildStamp, want)
}

func buildGo(ctx context.Context) error {
	env := map[string]string{"CGO_ENABLED": "0"}
	ldflags := "-w -s -X main.version=" + version()
	plugin := fmt.Sprintf("dist/%s_%s_%s", pluginExe, runtime.GOOS, runtime.GOARCH)
	var errs []error // build both even if one fails, to show all errors
	for _, b := range []struct{ out, pkg string }{{binary, serverMain}, {plugin, pluginMain}} {
		if err := os.MkdirAll(filepath.Dir(b.out), 0o755); err != nil {
			return err
		}
		removeIfNotExecutable(b.out)
		errs = append(errs, run(ctx, env, mg.GoCmd(), "build", "-trimpath", "-ldflags", ldflags, "-o", b.out, b.pkg))
	}
	return errors.Join(errs...)
}

// removeIfNotExecutable deletes a leftover placeholder at a build output:
// go build refuses to overwrite a file that is not an executable, but keeps
// a real one when it is up to date.
func removeIfNotExecutable(p string) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	f.Close()
	switch {
	case err == nil && string(magic) == "\x7fELF",
		err == nil && (string(magic) == "\xcf\xfa\xed\xfe" || string(magic) == "\xfe\xed\xfa\xcf"): // Mach-O 64
		return
	}
	step("remove %s: not an executable", p)
	os.Remove(p)
}

// version is $VERSION, else package.json's version, else "dev".
func version() string {
	if v := os.Getenv("VERSION"); v != "" {
		return v
	}
	var pkg struct{ Version string }
	if b, err := os.ReadFile("package.json"); err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Version != "" {
		return pkg.Version
	}
	return "dev"
}

// hashInputs hashes the names and contents of the given files and of every
// file under the given directories.
func hashInputs(roots []string) (string, error) {
	h := sha256.New()
	add := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(p))
		_, err = io.Copy(h, f)
		fmt.Fprint(h, "\x00")
		return err
	}
	for _, r := range roots {
		err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == r {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if d.Name() == "node_modules" {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			return add(p)
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// --- fuzzing ---

type fuzzTarget struct{ pkg, name string }

// fuzzTargets lists the fuzz targets of every package: `go test -list`
// prints a package's names and then its "ok <pkg>" line.
func fuzzTargets(ctx context.Context) ([]fuzzTarget, error) {
	args := []string{"test", "-list", "^Fuzz", goPackages}
	step("%s", commandLine(nil, mg.GoCmd(), args))
	var out bytes.Buffer
	cmd := command(ctx, chdbEnv(), mg.GoCmd(), args...)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		os.Stdout.Write(out.Bytes())
		return nil, fmt.Errorf("go test -list: %w", err)
	}
	var targets []fuzzTarget
	var names []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "Fuzz") && len(f) == 1:
			names = append(names, line)
		case len(f) >= 2 && f[0] == "ok":
			for _, n := range names {
				targets = append(targets, fuzzTarget{pkg: f[1], name: n})
			}
			names = nil
		}
	}
	return targets, sc.Err()
}

// --- running commands ---

func step(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

func chdbEnv() map[string]string {
	if chdbLib == "" {
		return nil
	}
	return map[string]string{"CHDB_LIB_PATH": chdbLib}
}

func command(ctx context.Context, env map[string]string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	// Mage cancels the context on Ctrl-C; let the command stop cleanly.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 4 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// run prints the command as one step line, then runs it with its output
// streamed.
func run(ctx context.Context, env map[string]string, name string, args ...string) error {
	step("%s", commandLine(env, name, args))
	if err := command(ctx, env, name, args...).Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// runForeground runs a long-lived program with its output streamed and
// forwards SIGINT, SIGTERM and SIGHUP to it. It runs in its own process
// group so that Ctrl-C reaches it once, through this forwarding, and not
// also straight from the terminal.
func runForeground(ctx context.Context, env map[string]string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	ctxDone := ctx.Done()
	for {
		select {
		case sig := <-sigs:
			stopped = true
			_ = cmd.Process.Signal(sig)
		case <-ctxDone:
			// Mage cancels on SIGINT, which arrives on sigs as well; only a
			// mage timeout (-t) needs a signal of its own.
			ctxDone = nil
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && !stopped {
				stopped = true
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		case err := <-done:
			if err != nil && !stopped {
				return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
			}
			return nil
		}
	}
}

func commandLine(env map[string]string, name string, args []string) string {
	var b strings.Builder
	for k, v := range env {
		if k == "CHDB_LIB_PATH" {
			continue // the same everywhere; setup printed it
		}
		fmt.Fprintf(&b, "%s=%s ", k, v)
	}
	b.WriteString(name)
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$^*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

func writeStamp(path, hash string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hash+"\n"), 0o644)
}

func allExist(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}
