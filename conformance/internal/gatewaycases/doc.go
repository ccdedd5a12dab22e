// Package gatewaycases holds the gateway suite's cases: the suite plays
// the connector (the in-process simulator behind the harness's recording
// front) and starts the gateway under test once per case. Each file is
// one section of the contract (auth.go AUTH, handshake.go HS, transport.go
// TRN, outbound.go OUT, inbound.go IN, idle.go IDLE, http.go HTTP, rc.go
// RC, skey.go SKEY), beside the preflight cases (preflight.go); a helper
// one section's cases use lives in that section's file.
//
// The cases register themselves with the harness (package
// conformance/internal/harness, imported as h) in package variable
// initialisers; linking this package, as package conformance does,
// registers them. They drive the simulator only through the harness
// (GWCase.Script, GWCase.InjectEvent, ...), never by importing it.
package gatewaycases
