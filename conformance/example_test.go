package conformance_test

import (
	"fmt"
	"log"
	"os"
	"testing"

	"github.com/relaykit/relaykit/conformance"
	"github.com/relaykit/relaykit/simulator"
)

// List describes the cases without running anything: here, the connector
// cases of the close codes' second-socket rule.
func ExampleList() {
	for _, c := range conformance.List(conformance.ListFilter{Side: conformance.Connector, Prefix: "RC-002"}) {
		fmt.Println(c.ID, c.Level, c.Requirements, c.SpecRef)
	}
	// Output:
	// RC-002/second-socket MUST [RC-002] docs/relay-connector-contract.md#101-close-codes
}

// A connector's own test package runs the connector suite in a go test.
// An embedded relaysim stands in for the connector under test here; point
// URL at yours, and Control at its testee control API if it has one (or
// give GatewayID, Secret and Platforms instead). A test binary runs one
// suite: give each suite a test package of its own.
func ExampleRunConnectorSuite() {
	testConnectorConformance := func(t *testing.T) {
		srv, err := simulator.New(simulator.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		conformance.RunConnectorSuite(t, conformance.ConnectorOptions{
			URL:     srv.RelayURL(),
			Control: srv.URL() + "/_relaysim",
			Options: conformance.Options{Implementation: "my-connector 1.4.0"},
		})
	}
	_ = testConnectorConformance
}

// RunConnector returns the Result without a testing.T, for a program of
// its own: the summary, the reports and the exit code conform uses.
func ExampleRunConnector() {
	srv, err := simulator.New(simulator.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	res, err := conformance.RunConnector(conformance.ConnectorOptions{
		URL:     srv.RelayURL(),
		Control: srv.URL() + "/_relaysim",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Summary())
	for _, id := range res.IDs(conformance.Fail) {
		c, _ := res.Case(id)
		fmt.Println("failed:", id, c.Requirements, c.Message)
	}
	if err := os.WriteFile("conformance-report.md", res.Markdown(), 0o644); err != nil {
		log.Fatal(err)
	}
	os.Exit(conformance.ExitCodeOf(res, err))
}
