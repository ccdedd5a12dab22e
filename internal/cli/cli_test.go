package cli

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newFlags() (*flag.FlagSet, *int) {
	fs := flag.NewFlagSet("tool", flag.ContinueOnError)
	n := fs.Int("n", 1, "how many")
	return fs, n
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		ok             bool
		stdout, stderr string // substrings; "" means empty
	}{
		{"parsed", []string{"-n", "3"}, 0, true, "", ""},
		{"help to stdout", []string{"-h"}, 0, false, "-n int", ""},
		{"usage error to stderr", []string{"-x"}, 2, false, "", "flag provided but not defined: -x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, n := newFlags()
			var out, errw bytes.Buffer
			code, ok := ParseArgs(fs, tc.args, &out, &errw)
			if code != tc.code || ok != tc.ok {
				t.Fatalf("ParseArgs = %d, %v; want %d, %v", code, ok, tc.code, tc.ok)
			}
			for _, w := range []struct {
				got, want string
				name      string
			}{{out.String(), tc.stdout, "stdout"}, {errw.String(), tc.stderr, "stderr"}} {
				if (w.want == "") != (w.got == "") || !strings.Contains(w.got, w.want) {
					t.Errorf("%s = %q, want %q", w.name, w.got, w.want)
				}
			}
			if tc.ok && *n != 3 {
				t.Errorf("n = %d", *n)
			}
			if fs.Output() != &errw {
				t.Error("later usage errors would not go to stderr")
			}
		})
	}
}
