// Package connectorcases holds the connector suite's cases: the suite
// plays the gateway against the connector under test. Each file is one
// section of the contract (auth.go AUTH, handshake.go HS, transport.go TRN,
// outbound.go OUT, inbound.go IN, idle.go IDLE, wake.go WAKE, http.go HTTP,
// rc.go RC, skey.go SKEY), beside the preflight cases (preflight.go) and
// the bad-input catalogue's (badinput.go); a helper one section's cases
// use lives in that section's file.
//
// The cases register themselves with the harness (package
// conformance/internal/harness, imported as h) in package variable
// initialisers; linking this package, as package conformance does,
// registers them. They reach the connector over the wire and through the
// testee control API only, never through the simulator or the client.
package connectorcases
