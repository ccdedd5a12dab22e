// Command pier runs the pier foreign connector double for manual runs and
// for conform connector. It prints an env block on stdout (the relay and
// control URLs, the known chat and a pre-enrolled gateway) and logs pier's
// journal on stderr until interrupted.
//
//	go run ./internal/foreign/pier/cmd/pier [--addr 127.0.0.1:0] [--control-addr 127.0.0.1:0]
//	    [--known-chat pier-lobby] [--gateway-id gw-pier] [--secret S] [--deviation NAME]
//	    [--late-close-notice]
//
// PIER_DEVIATION plants a deviation as --deviation does; --deviation list
// prints them.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/relaykit/relaykit/internal/foreign/pier"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pier", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", pier.DefaultAddr, "relay listener address")
	ctlAddr := fs.String("control-addr", pier.DefaultAddr, "testee control listener address")
	ctlToken := fs.String("control-token", "", "bearer token the control API requires (default none)")
	known := fs.String("known-chat", pier.DefaultKnownChat, "the chat every gateway may post to")
	gwID := fs.String("gateway-id", "gw-pier", "id of the gateway enrolled at start")
	secret := fs.String("secret", "", "its secret (default: random)")
	dev := fs.String("deviation", os.Getenv("PIER_DEVIATION"), "plant one deviation by name; \"list\" lists them (env PIER_DEVIATION)")
	lateClose := fs.Bool("late-close-notice", false, "notice a closed socket only when the next event's write to it fails (pier.Options.LateCloseNotice)")
	verbose := fs.Bool("v", false, "log the journal at debug level")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dev == "list" {
		for _, d := range pier.Deviations {
			fmt.Fprintf(stdout, "%-32s %-9s %s\n", d.Name, d.Requirement, d.Description)
		}
		return 0
	}
	if *secret == "" {
		*secret = "pier-dev-" + fmt.Sprint(os.Getpid())
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	srv, err := pier.New(pier.Options{
		Addr: *addr, ControlAddr: *ctlAddr, ControlToken: *ctlToken, KnownChat: *known, Deviation: *dev,
		LateCloseNotice: *lateClose,
		Gateways:        []pier.Gateway{{GatewayID: *gwID, Secret: *secret}},
		Logger:          slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintf(stdout, "PIER_URL=%s\nPIER_CONTROL_URL=%s\nPIER_KNOWN_CHAT=%s\n", srv.URL(), srv.ControlURL(), srv.KnownChat())
	fmt.Fprintf(stdout, "GATEWAY_RELAY_URL=%s/relay\nGATEWAY_RELAY_ID=%s\nGATEWAY_RELAY_SECRET=%s\nGATEWAY_RELAY_PLATFORMS=%s\n",
		strings.Replace(srv.URL(), "http://", "ws://", 1), *gwID, *secret, strings.Join(pier.Platforms, ","))
	if *dev != "" {
		fmt.Fprintf(stderr, "pier: deviation %s planted\n", *dev)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	if err := srv.Close(); err != nil {
		fmt.Fprintln(stderr, err)
	}
	return 0
}
