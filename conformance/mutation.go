package conformance

import _ "embed"

// mutationSection is the "Mutation kill rate" section of docs/conformance.md:
// the summary of the last published run of the mutation harness
// (go run ./internal/mutation -publish writes this file).
//
//go:embed mutation.md
var mutationSection string
