// Command portcullis is the gateway's binary: it wires configuration, key
// sets, policy, verification, metrics and the proxy together and owns the
// process (flags, signals, listeners, exit codes). Nothing imports it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// Exit codes, as the contract fixes them, and explain's "could not check".
const (
	exitOK     = 0
	exitFailed = 1 // bad configuration or a failed check (explain: refused)
	exitUsage  = 2
	// exitUnchecked is explain's answer when it could not check the
	// request at all (the file, the token file or the keys could not be
	// read): a script asserting "this request is refused" must not take
	// that for a refusal.
	exitUnchecked = 3
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `portcullis: an API gateway that enforces OAuth2 bearer tokens

Usage:
  portcullis serve -config FILE      run the gateway (also: portcullis -config FILE)
  portcullis validate -config FILE   check the file; print every problem with its line
  portcullis explain -config FILE [-token JWT|@FILE] [-H 'Name: value']... [-json]
                     [-jwks FILE | -no-verify] METHOD URL
                                     dry-run one request: route, checks, upstream headers;
                                     exit 0 if it would be allowed, 1 if refused,
                                     3 if it could not be checked (file, token or keys)
  portcullis demo                    run a demo issuer, upstream and gateway on loopback
  portcullis version                 print version, commit and Go version

Flags may also be set as environment variables: -config as PORTCULLIS_CONFIG.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal starts the drain, restore the default
		// handling: a second Ctrl-C or SIGTERM ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks a command line that makes no sense; it exits 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isHelp(args[0])) {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCommand(ctx, args, stderr)
	case "validate":
		err = validateCommand(args, stdout, stderr)
	case "explain":
		err = explainCommand(ctx, args, stdout, stderr)
	case "demo":
		err = demoCommand(ctx, args, stdout, stderr)
	case "version":
		if len(args) > 0 {
			fmt.Fprintf(stderr, "portcullis version: unexpected argument %q\n", args[0])
			return exitUsage
		}
		printVersion(stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "portcullis: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK // asked for: the flags were printed
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errUnchecked):
		fmt.Fprintf(stderr, "portcullis: %v\n", err)
		return exitUnchecked
	default:
		if !errors.Is(err, errReported) {
			fmt.Fprintf(stderr, "portcullis: %v\n", err)
		}
		return exitFailed
	}
}

// isHelp reports whether arg asks for the command list.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// errUnchecked marks explain's "could not check": exit 3.
var errUnchecked = errors.New("could not check the request")

// noArgs refuses positional arguments that a command does not take: a
// stray word (a second file, a typo of a flag without its dash) is a
// mistake to report, not something to ignore.
func noArgs(fs *flag.FlagSet, stderr io.Writer) error {
	if fs.NArg() == 0 {
		return nil
	}
	fmt.Fprintf(stderr, "portcullis %s: unexpected argument %q (flags start with '-')\n", fs.Name(), fs.Arg(0))
	return errUsage
}

// errReported is a failure whose details were already printed (or, for
// explain, an answer rather than a failure): it exits 1 and prints nothing.
var errReported = errors.New("failure already reported")

// newFlags returns a flag set whose flags fall back to PORTCULLIS_* variables.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, then fills every flag not given on the command line
// from PORTCULLIS_<NAME> (upper case, '-' as '_').
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err // -h or -help: the flags were printed, as asked
		}
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "PORTCULLIS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				fmt.Fprintf(fs.Output(), "portcullis: %s: %v\n", env, e)
				err = errUsage
			}
		}
	})
	return err
}

func printVersion(w io.Writer) {
	commit, modified := "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += "-dirty"
	}
	fmt.Fprintf(w, "portcullis %s\ncommit %s\n%s %s/%s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
