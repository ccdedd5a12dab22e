// Package selfcheck proves the conformance suites: the connector suite
// passes against relaysim and the gateway suite against the echo gateway,
// and each deliberate deviation mode of the simulator, the client and the
// client's adapter makes exactly the expected cases fail
// (conformance.DeviationMatrix).
//
// Ginkgo runs one suite per process, so every suite run here happens in a
// child process: the test binary re-executes itself with the run described
// in an environment variable.
package selfcheck
