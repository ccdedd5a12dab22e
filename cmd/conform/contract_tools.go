package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/cli"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runToken implements "conform token mint" and "conform token verify".
func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: conform token mint|verify [flags]")
		return 2
	}
	switch args[0] {
	case "mint":
		return runTokenMint(args[1:], stdout, stderr)
	case "verify":
		return runTokenVerify(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, "usage: conform token mint|verify [flags]; conform token mint --help and conform token verify --help list the flags")
		return 0
	default:
		fmt.Fprintf(stderr, "conform token: unknown subcommand %q (want mint or verify)\n", args[0])
		return 2
	}
}

func runTokenMint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform token mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("gateway-id", "", "gateway id, the signed payload (required)")
	secret := fs.String("secret", "", "gateway secret, the HMAC key (required)")
	exp := fs.String("exp", "", "expiry as unix seconds; 0 never expires")
	ttl := fs.Duration("ttl", 0, "lifetime from now, e.g. 300s; 0 or less never expires")
	now := fs.Int64("now", 0, "unix seconds to count --ttl from (default: the current time)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: conform token mint --gateway-id ID --secret S (--exp N | --ttl D) [--now N]")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	ttlSet := false
	fs.Visit(func(f *flag.Flag) { ttlSet = ttlSet || f.Name == "ttl" })
	switch {
	case *id == "" || *secret == "":
		fmt.Fprintln(stderr, "conform token mint: --gateway-id and --secret are required")
		return 2
	case (*exp == "") == !ttlSet:
		fmt.Fprintln(stderr, "conform token mint: give exactly one of --exp and --ttl")
		return 2
	}
	var e int64
	if *exp != "" {
		v, err := strconv.ParseInt(*exp, 10, 64)
		if err != nil || v < 0 {
			fmt.Fprintf(stderr, "conform token mint: --exp %q is not a non-negative integer\n", *exp)
			return 2
		}
		e = v
	} else {
		at := time.Now()
		if *now != 0 {
			at = time.Unix(*now, 0)
		}
		e = contract.ExpFromTTL(at, *ttl)
	}
	fmt.Fprintln(stdout, contract.MintToken(*id, *secret, e))
	return 0
}

func runTokenVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform token verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var secrets stringList
	fs.Var(&secrets, "secret", "a secret to try, repeatable: primary first, then rotation secrets")
	now := fs.Int64("now", 0, "unix seconds to check expiry at (default: the current time)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: conform token verify --secret S [--secret S2 ...] [--now N] TOKEN")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 || len(secrets) == 0 {
		fs.Usage()
		return 2
	}
	at := time.Now()
	if *now != 0 {
		at = time.Unix(*now, 0)
	}
	claims, err := contract.VerifyToken(fs.Arg(0), secrets, at)
	if err != nil {
		reason := "unauthorized"
		if errors.Is(err, contract.ErrTokenExpired) {
			reason = "expired"
		}
		fmt.Fprintf(stderr, "rejected (%s, close %d %q): %v\n", reason, contract.CloseUnauthorized, reason, err)
		return 1
	}
	out, _ := json.Marshal(map[string]any{"gatewayId": claims.GatewayID, "exp": claims.Exp})
	fmt.Fprintln(stdout, string(out))
	return 0
}

// runSessionKey implements "conform session-key": a SessionSource JSON on
// stdin, the key on stdout.
func runSessionKey(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform session-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := contract.DefaultSessionKeyOptions()
	group := fs.Bool("group-sessions-per-user", def.GroupSessionsPerUser, "isolate each participant of a group chat")
	thread := fs.Bool("thread-sessions-per-user", def.ThreadSessionsPerUser, "isolate each participant of a thread")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: conform session-key [--group-sessions-per-user=BOOL] [--thread-sessions-per-user=BOOL] < source.json")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	var src contract.SessionSource
	if err := dec.Decode(&src); err != nil {
		fmt.Fprintf(stderr, "conform session-key: stdin is not a SessionSource JSON object: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, contract.SessionKey(src, contract.SessionKeyOptions{GroupSessionsPerUser: *group, ThreadSessionsPerUser: *thread}))
	return 0
}

// runValidate implements "conform validate FILE|-": every line of an NDJSON
// capture is checked as a frame; violations are printed with their line
// and the level of the requirement they break. MUST violations fail the
// run (exit 1); SHOULD and MAY violations are warnings unless --strict.
func runValidate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conform validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print violations as JSON lines")
	strict := fs.Bool("strict", false, "fail on SHOULD and MAY violations too")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: conform validate [--json] [--strict] FILE|-   (an NDJSON capture of frames, one per line)")
		fs.PrintDefaults()
	}
	if code, ok := cli.ParseArgs(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	in := stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "conform validate: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	r := bufio.NewReaderSize(in, 64<<10)
	lines := 0
	counts := map[string]int{}
	failing := 0
	for {
		frame, err := r.ReadBytes('\n')
		if len(frame) > 0 {
			lines++
			if len(strings.TrimSpace(string(frame))) == 0 {
				continue
			}
			for _, v := range contract.ValidateFrame(frame) {
				level := "MUST"
				if req, ok := contract.LookupRequirement(v.Requirement); ok {
					level = string(req.Level)
				}
				counts[level]++
				if level == "MUST" || *strict {
					failing++
				}
				if *asJSON {
					out, _ := json.Marshal(struct {
						Line  int    `json:"line"`
						Level string `json:"level"`
						contract.Violation
					}{lines, level, v})
					fmt.Fprintln(stdout, string(out))
				} else {
					fmt.Fprintf(stdout, "line %d: %s %s\n", lines, level, v.Error())
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "conform validate: %v\n", err)
			return 2
		}
	}
	if n := counts["MUST"] + counts["SHOULD"] + counts["MAY"]; n > 0 {
		fmt.Fprintf(stderr, "%d violation(s) in %d frame(s): %d MUST, %d SHOULD, %d MAY\n", n, lines, counts["MUST"], counts["SHOULD"], counts["MAY"])
	} else {
		fmt.Fprintf(stderr, "%d frame(s), no violations\n", lines)
	}
	if failing > 0 {
		return 1
	}
	return 0
}
