package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// validate checks every flag value before anything starts, so a mistake is
// a usage error (exit 2) that names the flag, never a surprise later. It
// also settles dev mode (c.devOn).
func (c *config) validate() error {
	addr := c.addr
	if addr == "" {
		addr = defaultAddr
	}
	host, err := checkAddr(addr)
	if err != nil {
		return err
	}
	loopback := isLoopbackHost(host)

	// Dev mode hands any bearer the secrets of tenant "default", the dev
	// gateway's among them: on by itself only where nobody else can reach
	// it, and never next to identity tokens, which it would make pointless.
	switch {
	case c.dev.set && c.dev.on && len(c.identityTokens) > 0:
		return errors.New("--dev with --identity-token: dev mode accepts any bearer, which would make the identity tokens pointless; drop --dev (it is off whenever identity tokens are given)")
	case c.dev.set && c.dev.on && !loopback:
		return fmt.Errorf("--dev on %s, which is not a loopback address: dev mode gives anyone who can reach it the secrets of tenant \"default\", the dev gateway's included; use --identity-token, or listen on 127.0.0.1", addr)
	case c.dev.set:
		c.devOn = c.dev.on
	default:
		c.devOn = len(c.identityTokens) == 0 && loopback
	}

	if c.requireControl && c.controlToken == "" {
		return errors.New("--require-control-token: no --control-token (env RELAYSIM_CONTROL_TOKEN) is set, and without one anyone who reaches the port can enroll gateways, inject traffic and read buffers; set a token (docker run -e RELAYSIM_CONTROL_TOKEN=...), or turn the requirement off (RELAYSIM_REQUIRE_CONTROL_TOKEN=false)")
	}
	// The console adds nothing the control API does not already give, but
	// a page inviting a visit does not belong on an open address.
	c.consoleOn = c.console.on
	if !c.console.set {
		c.consoleOn = loopback || c.controlToken != ""
	}

	if err := checkStore(c.store); err != nil {
		return err
	}
	if c.wakeURL != "" {
		if err := checkWakeURL(c.wakeURL); err != nil {
			return err
		}
	}
	if strings.ContainsAny(c.gatewayID, "\x00\r\n") {
		return fmt.Errorf("--gateway-id %q: must not contain NUL or line breaks", c.gatewayID)
	}
	if c.anonymous && c.gatewayID == "" {
		return errors.New("--allow-anonymous needs a development gateway: --gateway-id is empty")
	}
	if c.platforms != "" {
		var ps listFlag
		ps.Set(c.platforms)
		seen := map[string]bool{}
		for _, p := range ps {
			if seen[p] {
				return fmt.Errorf("--platforms %q: %q is listed twice", c.platforms, p)
			}
			seen[p] = true
		}
		if len(ps) == 0 {
			return fmt.Errorf("--platforms %q: names no platform", c.platforms)
		}
	}
	tenants := map[string]string{}
	for _, t := range c.identityTokens {
		token, tenant, _ := strings.Cut(t, "=")
		switch {
		case token == "":
			return fmt.Errorf("--identity-token: an entry has an empty token (want TOKEN or TOKEN=TENANT)")
		case strings.TrimSpace(token) != token || strings.ContainsAny(token, " \t"):
			return fmt.Errorf("--identity-token: a token contains spaces; a bearer never matches one")
		}
		if prev, ok := tenants[token]; ok && prev != tenant {
			return fmt.Errorf("--identity-token: one token is given for two tenants, %q and %q", prev, tenant)
		}
		tenants[token] = tenant
	}

	l := c.limits
	for _, d := range []struct {
		flag  string
		v     time.Duration
		negOK string // what a negative value means, when it means something
	}{
		{"ping-interval", c.pingInterval, "disables keepalive"},
		{"ping-timeout", c.pingTimeout, ""},
		{"handshake-timeout", c.handshake, "disables it"},
		{"wake-cooldown", c.wakeCooldown, ""},
		{"auth-fail-refill", c.authFailRefill, ""},
		{"media-ttl", c.mediaTTL, ""},
		{"provision-refill", l.provisionRefill, ""},
		{"provision-total-refill", l.provisionTotalRefill, ""},
		{"read-header-timeout", l.readHeaderTimeout, ""},
		{"read-timeout", l.readTimeout, ""},
		{"write-timeout", l.writeTimeout, ""},
		{"media-timeout", l.mediaTimeout, ""},
		{"idle-timeout", l.idleTimeout, ""},
		{"queue-wait", l.queueWait, "never waits"},
	} {
		switch {
		case d.v == 0 && d.negOK != "":
			return fmt.Errorf("--%s 0s: must be positive (a negative value %s)", d.flag, d.negOK)
		case d.v == 0 || (d.v < 0 && d.negOK == ""):
			return fmt.Errorf("--%s %v: must be a positive duration", d.flag, d.v)
		}
	}
	for _, n := range []struct {
		flag  string
		v     int
		min   int
		negOK string
	}{
		{"drain-window", c.drainWindow, 1, ""},
		{"auth-fail-burst", c.authFailBurst, 1, "disables throttling"},
		{"provision-burst", l.provisionBurst, 1, "disables it"},
		{"provision-total-burst", l.provisionTotalBurst, 1, "disables it"},
		{"max-gateways", l.maxGateways, 1, "means no cap"},
		{"max-gateways-per-tenant", l.maxGatewaysPerTenant, 1, "means no cap"},
		{"max-conns", l.maxConns, 1, "means no cap"},
		{"max-header-bytes", l.maxHeaderBytes, 1024, ""},
		{"queue-max-frames", l.queueMaxFrames, 1, ""},
		{"buffer-max-entries", l.bufferMaxEntries, 1, ""},
		{"history-size", l.historySize, 1, ""},
	} {
		switch {
		case n.v < 0 && n.negOK != "":
		case n.v < n.min && n.negOK != "":
			return fmt.Errorf("--%s %d: must be at least %d (a negative value %s)", n.flag, n.v, n.min, n.negOK)
		case n.v < n.min:
			return fmt.Errorf("--%s %d: must be at least %d", n.flag, n.v, n.min)
		}
	}
	for _, b := range []struct {
		flag string
		v    int64
	}{
		{"queue-max-bytes", l.queueMaxBytes}, {"queue-max-total-bytes", l.queueMaxTotalBytes},
		{"buffer-max-bytes", l.bufferMaxBytes}, {"buffer-max-total-bytes", l.bufferMaxTotalBytes},
		{"history-max-bytes", l.historyMaxBytes}, {"history-max-total-bytes", l.historyMaxTotalBytes},
		{"journal-max-bytes", l.journalMaxBytes},
	} {
		if b.v < 1 {
			return fmt.Errorf("--%s %d: must be a positive number of bytes", b.flag, b.v)
		}
	}
	// --socket-write-timeout: 0 means the ping timeout and a negative value
	// disables the watchdog, so every value means something.
	if l.maxHeaderBytes > 16<<20 {
		return fmt.Errorf("--max-header-bytes %d: must be at most %d", l.maxHeaderBytes, 16<<20)
	}
	return c.fake.check(c.platforms)
}

// checkAddr checks HOST:PORT and returns the host.
func checkAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: want HOST:PORT, such as 127.0.0.1:8765 (%v)", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("--addr %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && !isIP(host) && !isHostname(host) {
		return "", fmt.Errorf("--addr %q: host %q is neither an IP address nor a host name", addr, host)
	}
	return host, nil
}

func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

func isHostname(host string) bool {
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// isLoopbackHost reports whether a listen host accepts connections only
// from this machine. An empty host listens on every interface; a name
// other than localhost may resolve anywhere, so it counts as exposed.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func checkStore(store string) error {
	switch {
	case store == "mem" || store == "":
		return nil
	case strings.HasPrefix(store, "file:"):
		path := strings.TrimPrefix(store, "file:")
		if path == "" {
			return fmt.Errorf("--store %q: file: needs a path, such as file:/var/lib/relaysim/state", store)
		}
		dir := filepath.Dir(path)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--store %q: directory %s does not exist", store, dir)
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return fmt.Errorf("--store %q: %s is a directory; give a file path inside it", store, path)
		}
		return nil
	}
	scheme, _, _ := strings.Cut(store, ":")
	return fmt.Errorf("--store %q: unknown scheme %q: want mem or file:PATH", store, scheme)
}

func checkWakeURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("--wake-url %q: not a URL: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("--wake-url %q: scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("--wake-url %q: has no host", raw)
	}
	return nil
}

// warnExposure logs, at start, what a non-loopback address exposes.
func (c *config) warnExposure(logger *slog.Logger) {
	addr := c.addr
	if addr == "" {
		addr = defaultAddr
	}
	host, _, _ := net.SplitHostPort(addr)
	if isLoopbackHost(host) {
		return
	}
	if c.controlToken == "" {
		logger.Warn("relaysim: listening beyond loopback without --control-token: anyone who can reach the control API can enroll gateways, inject traffic and read buffers", "addr", addr)
	}
	if c.anonymous {
		logger.Warn("relaysim: --allow-anonymous beyond loopback: anyone who can reach /relay connects as the development gateway", "addr", addr, "gatewayId", c.gatewayID)
	}
	if !c.devOn && len(c.identityTokens) == 0 {
		logger.Info("relaysim: dev mode is off on a non-loopback address; /relay/provision and /relay/enroll accept no bearer until --identity-token is given", "addr", addr)
	}
}
