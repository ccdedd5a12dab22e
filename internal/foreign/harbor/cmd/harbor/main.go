// Command harbor runs the harbor foreign connector double for manual
// conformance runs.
//
//	go run ./internal/foreign/harbor/cmd/harbor                 # with the testee control API
//	go run ./internal/foreign/harbor/cmd/harbor -no-control     # credentials only
//
// It prints the relay URL, the control URL (unless -no-control) and the
// start gateway's credentials on stdout, logs on stderr, and stops on
// SIGINT or SIGTERM. HARBOR_DEVIATION plants one deviation (see
// harbor.Deviations; -list-deviations prints them).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/relaykit/relaykit/internal/foreign/harbor"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("harbor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "relay listen address")
	ctlAddr := fs.String("control-addr", "127.0.0.1:0", "control API listen address")
	noControl := fs.Bool("no-control", false, "credentials only: no control API")
	gwID := fs.String("gateway-id", "harbor-gw", "the gateway enrolled at start")
	secret := fs.String("secret", "", "its secret (random when empty)")
	identity := fs.String("identity-token", "", "an identity bearer accepted by provision and enroll (tenant harbor-tenant)")
	dup := fs.String("duplicate-policy", "allow", "second socket of one instance: allow, replace or reject")
	deviation := fs.String("deviation", os.Getenv("HARBOR_DEVIATION"), "plant one deviation (env HARBOR_DEVIATION)")
	list := fs.Bool("list-deviations", false, "print the deviations and exit")
	verbose := fs.Bool("v", false, "log to stderr")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *list {
		for _, d := range harbor.Deviations {
			fmt.Printf("%-30s %-9s %s\n", d.Name, d.Requirement, d.Description)
		}
		return 0
	}
	opts := harbor.Options{Addr: *addr, ControlAddr: *ctlAddr, NoControl: *noControl, DuplicatePolicy: *dup,
		Deviation: *deviation, Gateway: &harbor.GatewaySpec{ID: *gwID, Secret: *secret}}
	if *identity != "" {
		opts.IdentityTokens = map[string]string{*identity: ""}
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	s, err := harbor.New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	g, _ := s.StartGateway()
	fmt.Printf("HARBOR_URL=%s\n", s.URL())
	if u := s.ControlURL(); u != "" {
		fmt.Printf("HARBOR_CONTROL_URL=%s\n", u)
	}
	fmt.Printf("GATEWAY_RELAY_URL=%s\nGATEWAY_RELAY_ID=%s\nGATEWAY_RELAY_SECRET=%s\nGATEWAY_RELAY_PLATFORMS=%s\n",
		s.RelayURL(), g.ID, g.Secret, strings.Join(g.Platforms, ","))
	fmt.Printf("# conform: --url %s --gateway-id %s --secret %s --platform %s --chat-id harbor-lobby\n",
		s.URL(), g.ID, g.Secret, strings.Join(g.Platforms, " --platform "))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	_ = s.Close()
	return 0
}
