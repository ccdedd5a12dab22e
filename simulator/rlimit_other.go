//go:build !unix

package simulator

// openFileLimit returns 0: this platform has no open-file limit to read.
func openFileLimit() int { return 0 }
