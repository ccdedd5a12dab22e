// Command conform runs the relay connector contract's conformance suites
// and offers the contract's tools.
//
//	conform connector --url URL (--gateway-id ID --secret S --platform P | --control URL) [flags]
//	conform gateway --exec "COMMAND" [flags]
//	conform list [--side S] [--level L] [--feature F] [--prefix P] [--markdown | --json]
//	conform token mint|verify ...
//	conform session-key ...
//	conform validate ...
//	conform version
//
// Exit codes: 0 conformant, 1 non-conformant (or a stale baseline entry),
// 2 usage error, 3 harness error. See docs/conformance-guide.md.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/relaykit/relaykit/internal/buildinfo"
)

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: conform <command> [flags]

Conformance suites:
  connector   run the connector suite against a connector (the suite plays the gateway)
  gateway     run the gateway suite against a gateway command (the suite plays the connector)
  list        list the conformance cases

Contract tools:
  token       mint or verify an upgrade token
  session-key compute a session key
  validate    validate frames or HTTP bodies

Other:
  version     print the version and build of this binary (also --version)

Run "conform <command> -h" for the flags of a command.
Exit codes: 0 conformant, 1 non-conformant or stale baseline, 2 usage, 3 harness error.
`

// dispatch runs one conform command and returns its exit code.
func dispatch(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "connector":
		return runConnectorCmd(args[1:], stdout, stderr)
	case "gateway":
		return runGatewayCmd(args[1:], stdout, stderr)
	case "list":
		return runList(args[1:], stdout, stderr)
	case "token":
		return runToken(args[1:], stdout, stderr)
	case "session-key":
		return runSessionKey(args[1:], stdin, stdout, stderr)
	case "validate":
		return runValidate(args[1:], stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprint(stdout, buildinfo.Read().String("conform"))
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "conform: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
