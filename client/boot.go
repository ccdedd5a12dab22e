package client

import (
	"context"
	"fmt"
	"strings"
)

// Boot step names, in the order Boot runs them.
const (
	StepConfig    = "config"
	StepProvision = "provision"
	StepEnroll    = "enroll"
	StepPolicy    = "policy"
	StepConnect   = "connect"
)

// Outcome is how one boot step went.
type Outcome string

// Outcomes of a boot step.
const (
	OutcomeOK      Outcome = "ok"
	OutcomeSkipped Outcome = "skipped"
	OutcomeFailed  Outcome = "failed"
)

// BootStep reports one step of Boot; per-platform steps (provision,
// policy) have one entry per platform.
type BootStep struct {
	Name     string
	Platform string
	Outcome  Outcome
	// Detail says why a step was skipped or what it achieved.
	Detail string
	// Err is why it failed.
	Err error
}

// String renders the step for a log line.
func (s BootStep) String() string {
	var b strings.Builder
	b.WriteString(s.Name)
	if s.Platform != "" {
		b.WriteString("[" + s.Platform + "]")
	}
	b.WriteString(": " + string(s.Outcome))
	if s.Detail != "" {
		b.WriteString(" (" + s.Detail + ")")
	}
	if s.Err != nil {
		b.WriteString(": " + s.Err.Error())
	}
	return b.String()
}

// BootReport lists what Boot did, step by step, so a gateway can log it
// and a test can assert it.
type BootReport struct {
	Steps []BootStep
	// Warnings are configuration problems that did not stop the boot.
	Warnings []string
}

// Step returns the report of one step (and platform, for per-platform
// steps; "" matches a step without a platform or the first one).
func (r BootReport) Step(name, platform string) (BootStep, bool) {
	for _, s := range r.Steps {
		if s.Name == name && (platform == "" || s.Platform == platform) {
			return s, true
		}
	}
	return BootStep{}, false
}

// Boot runs the reference gateway's boot sequence once and returns a
// connected client:
//
//  1. config: when opts.Getenv is set, resolve configuration from the
//     environment and config.yaml (LoadConfig), filling what opts.Config
//     leaves empty;
//  2. provision: only when a relay URL is set, no id and secret are
//     pinned and no enrollment token is set: POST /relay/provision once per
//     fronted platform with the identity bearer; partial failure is
//     tolerated, credentials stay in memory;
//  3. enroll: when an enrollment token is set and no secret is known:
//     POST /relay/enroll;
//  4. policy: project each platform's relevance knobs and POST
//     /relay/policy where there is something to declare;
//  5. connect: dial and wait for the handshake (Connect).
//
// Steps 2–4 never stop the boot: a failure is logged, reported and the
// sequence goes on, as in the reference. Boot returns an error only when no
// client could be built (no relay URL) or Connect failed; in the latter
// case the client is returned too, its supervisor still dialling, so the
// caller may keep it or Close it.
func Boot(ctx context.Context, opts Options) (*Client, BootReport, error) {
	var rep BootReport
	if opts.Getenv != nil {
		path := opts.ConfigPath
		if path == "" {
			path = DefaultConfigPath(opts.Getenv)
		}
		loaded, warns := LoadConfig(opts.Getenv, path)
		rep.Warnings = warns
		opts.Config = opts.Config.normalized().merge(loaded)
		detail := "environment"
		if path != "" && path != "-" {
			detail += " and " + path
		}
		rep.Steps = append(rep.Steps, BootStep{Name: StepConfig, Outcome: OutcomeOK, Detail: detail})
	} else {
		rep.Steps = append(rep.Steps, BootStep{Name: StepConfig, Outcome: OutcomeSkipped, Detail: "using Options.Config as given"})
	}
	c, err := New(opts)
	if err != nil {
		rep.Steps = append(rep.Steps, BootStep{Name: StepConnect, Outcome: OutcomeFailed, Err: err})
		return nil, rep, err
	}
	for _, w := range rep.Warnings {
		c.log.Warn("relay config", "warning", w)
	}

	c.mu.Lock()
	haveSecret := c.creds.gatewayID != "" && c.creds.secret != ""
	c.mu.Unlock()
	switch {
	case haveSecret:
		rep.Steps = append(rep.Steps, BootStep{Name: StepProvision, Outcome: OutcomeSkipped, Detail: "gateway id and secret are pinned"})
	case c.cfg.EnrollToken != "":
		rep.Steps = append(rep.Steps, BootStep{Name: StepProvision, Outcome: OutcomeSkipped, Detail: "enrollment token set; using /relay/enroll"})
	default:
		rep.Steps = append(rep.Steps, c.provision(ctx)...)
	}

	c.mu.Lock()
	haveSecret = c.creds.secret != ""
	c.mu.Unlock()
	switch {
	case c.cfg.EnrollToken == "":
		rep.Steps = append(rep.Steps, BootStep{Name: StepEnroll, Outcome: OutcomeSkipped, Detail: "no enrollment token"})
	case haveSecret:
		rep.Steps = append(rep.Steps, BootStep{Name: StepEnroll, Outcome: OutcomeSkipped, Detail: "secret already known"})
	default:
		rep.Steps = append(rep.Steps, c.enroll(ctx))
	}

	rep.Steps = append(rep.Steps, c.declarePolicies(ctx)...)

	if err := c.Connect(ctx); err != nil {
		rep.Steps = append(rep.Steps, BootStep{Name: StepConnect, Outcome: OutcomeFailed, Err: err})
		return c, rep, fmt.Errorf("failed to boot: %w", err)
	}
	rep.Steps = append(rep.Steps, BootStep{Name: StepConnect, Outcome: OutcomeOK, Detail: "handshaked with " + c.Descriptor("").Platform})
	return c, rep, nil
}
