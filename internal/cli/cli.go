// Package cli holds what the module's commands share about their command
// lines.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"io"
)

// ParseArgs parses args with fs. Help that was asked for (-h, --help) goes
// to stdout with exit 0, as a reader piping it to less expects; a usage
// error goes to stderr with exit 2. ok is true when the caller should go
// on; then fs writes to stderr again, for usage errors found later.
// fs.Usage must write to fs.Output().
func ParseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		return 0, false
	default:
		_, _ = stderr.Write(buf.Bytes())
		return 2, false
	}
}
