package selfcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/conformance"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

// childEnv carries a childSpec to a re-executed test binary.
const childEnv = "RELAYKIT_SELFCHECK_CHILD"

// childSpec describes one suite run in a child process.
type childSpec struct {
	Side          conformance.Side `json:"side"`
	SimDeviations []string         `json:"simDeviations,omitempty"`
	Exec          string           `json:"exec,omitempty"`
	Env           []string         `json:"env,omitempty"`
	Focus         []string         `json:"focus,omitempty"`
	Strict        bool             `json:"strict,omitempty"`
	Fast          bool             `json:"fast,omitempty"`
	Wait          time.Duration    `json:"wait,omitempty"`
	Out           string           `json:"out"`
	// Foreign names a foreign double to run the suite against instead of
	// relaysim or the echo gateway ("pier"); ForeignDeviation plants one
	// of its deviations; Credentials runs the connector suite without the
	// testee control API, on credentials alone.
	Foreign          string `json:"foreign,omitempty"`
	ForeignDeviation string `json:"foreignDeviation,omitempty"`
	Credentials      bool   `json:"credentials,omitempty"`
	// LateCloseNotice runs pier slow to notice a socket the gateway closed
	// (pier.Options.LateCloseNotice), with a drain window of one.
	LateCloseNotice bool `json:"lateCloseNotice,omitempty"`
	// RealClock runs relaysim on the wall clock, as a stranger's connector
	// without clock control.
	RealClock bool `json:"realClock,omitempty"`
}

// identityToken is the identity bearer the child's relaysim accepts.
const identityToken = "conform-identity-token"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	code := m.Run()
	if code == 0 {
		// The suites run in child processes; the parent must not leak.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// runChild runs one suite as described and writes its result as JSON.
func runChild(raw string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "selfcheck child:", err)
		return 2
	}
	common := conformance.Options{
		Strict: spec.Strict, Fast: spec.Fast, Focus: spec.Focus, Wait: spec.Wait,
		Progress: os.Stderr, Output: os.Stderr,
	}
	var res *conformance.Result
	var err error
	switch {
	case spec.Foreign != "" && spec.Side == conformance.Connector:
		res, err = runForeign(spec, common)
	case spec.Side == conformance.Connector:
		var clk clock.Clock = clock.NewManual(time.Now())
		if spec.RealClock {
			clk = nil
		}
		opts := simulator.Options{
			Clock:          clk,
			IdentityTokens: map[string]string{identityToken: ""},
		}
		devs, serr := deviation.Parse(strings.Join(spec.SimDeviations, ","), deviation.Simulator)
		if serr == nil {
			serr = deviation.Apply(&opts, devs)
		}
		var sim *simulator.Server
		if serr == nil {
			sim, serr = simulator.New(opts)
		}
		if serr != nil {
			fmt.Fprintln(os.Stderr, "selfcheck child: simulator:", serr)
			return 3
		}
		defer sim.Close()
		common.Features = relaysimFeatures
		common.Implementation = "relaysim (in-process)"
		res, err = conformance.RunConnector(conformance.ConnectorOptions{
			Options: common, URL: sim.URL(), Control: sim.URL() + simulator.ControlPrefix[:len(simulator.ControlPrefix)-1],
			IdentityToken: identityToken,
		})
	case spec.Side == conformance.Gateway:
		common.Implementation = "examples/echogateway"
		if spec.Foreign != "" {
			common.Implementation = spec.Foreign + " (foreign double)"
		}
		common.Features = map[string]bool{conformance.FeatureAll: true}
		res, err = conformance.RunGateway(conformance.GatewayOptions{
			Options: common, Command: []string{spec.Exec}, Env: spec.Env, Echo: true, Timers: true,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "selfcheck child:", err)
		return conformance.ExitCodeOf(nil, err)
	}
	b, _ := res.JSON()
	if werr := os.WriteFile(spec.Out, b, 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "selfcheck child:", werr)
		return 3
	}
	return res.ExitCode()
}

// relaysimFeatures are the optional features relaysim implements.
var relaysimFeatures = map[string]bool{
	"wake": true, "passthrough": true, "policy": true, "media": true, "provision": true, "enroll": true,
}

// runSuite runs one suite in a child process and returns its result.
func runSuite(t *testing.T, spec childSpec) *conformance.Result {
	t.Helper()
	spec.Out = filepath.Join(t.TempDir(), "result.json")
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s suite run took %s", spec.Side, time.Since(start).Round(time.Millisecond))
	b, rerr := os.ReadFile(spec.Out)
	if rerr != nil {
		t.Fatalf("suite run wrote no result (%v): %v\n%s", err, rerr, out.String())
	}
	var res conformance.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("child output:\n%s", out.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	return &res
}

var (
	buildOnce sync.Once
	buildDir  string
	echoBin   string
	buildErr  error
)

// lantern builds the foreign gateway double once and returns its path.
func lantern(t *testing.T) string {
	t.Helper()
	lanternOnce.Do(func() {
		lanternBin, lanternErr = build("lantern", "github.com/relaykit/relaykit/internal/foreign/lantern")
	})
	if lanternErr != nil {
		t.Fatal(lanternErr)
	}
	return lanternBin
}

var (
	lanternOnce sync.Once
	lanternBin  string
	lanternErr  error
)

// build compiles a main package into the self-check's build directory.
func build(name, pkg string) (string, error) {
	buildDirOnce.Do(func() { buildDir, buildDirErr = os.MkdirTemp("", "relaykit-selfcheck-") })
	if buildDirErr != nil {
		return "", buildDirErr
	}
	bin := filepath.Join(buildDir, name)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out.String())
	}
	return bin, nil
}

var (
	buildDirOnce sync.Once
	buildDirErr  error
)

// echogateway builds examples/echogateway once and returns its path.
func echogateway(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("RELAYKIT_SELFCHECK_ECHOGATEWAY"); p != "" {
		return p
	}
	buildOnce.Do(func() { echoBin, buildErr = build("echogateway", "github.com/relaykit/relaykit/examples/echogateway") })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return echoBin
}
