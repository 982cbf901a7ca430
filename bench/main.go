// Command bench is portcullis's benchmark harness: it measures the gateway
// against a bare httputil.ReverseProxy on the same machine, in the same run,
// and reports the ratios (requests/s, p50 and p99 latency, CPU time per
// request) with their spread across rounds.
//
//	go run ./bench -quick          # about two minutes: a first look
//	go run ./bench                 # the full set, about twelve minutes
//	go run ./bench -scenarios rs256-reused,es256-fresh-10000routes -rounds 5
//
// Everything runs on loopback: an upstream and a JWKS server (a child
// process of this binary), the portcullis binary built from this tree with a
// generated configuration, and two baselines that are also children of this
// binary so that they are measured exactly like the gateway: "bare" (a
// ReverseProxy, no auth), "bare+jwx" (a ReverseProxy plus one jwx
// jwt.Parse per request) and "tuned-bare" (bare with a BufferPool, the
// real limit). wrk drives them in turn, A B A B, a fresh process per run;
// h2load drives the h2 scenarios and the harness's own grpc-go load
// generator the gRPC ones. With two CPUs or more the proxy under test runs alone on one CPU
// and wrk with the upstream on another, so that the proxy is the bottleneck
// and its CPU time is what the ratios compare.
//
// Absolute figures describe the machine the harness ran on and nothing
// else; the ratios are what carries over. See docs/benchmarks.md.
//
// This is a measuring instrument, not a test: it is never run by CI.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the harness's command line.
type options struct {
	quick     bool
	scenarios string
	rounds    int
	duration  time.Duration
	warmup    time.Duration
	out       string
	proxyCPU  string
	loadCPU   string
	profile   string
	wrk       string
	h2load    string
	maxNoise  float64
	retries   int
	quietWait time.Duration
	set       map[string]bool // flags given on the command line

	// Child roles (see serve.go); set only when the harness starts itself.
	serve      string
	listen     string
	upstream   string
	jwksFile   string
	jwksURL    string
	config     string
	cpuProfile string
	tlsCert    string // baselines: serve TLS (HTTP/2 by ALPN)
	tlsKey     string
	h2c        bool // baselines: cleartext HTTP/2 to clients and upstream
	// The gRPC load generator's (-serve grpc-load).
	grpcTarget string
	tokens     string
	calls      int
	conns      int
	loadFor    time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.quick, "quick", false, "a first look: "+strings.Join(quickScenarios, ", ")+"; 2 rounds of 4s")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenarios (default: the full set; see -list)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds per scenario (default 3, quick 2)")
	fs.DurationVar(&o.duration, "duration", 0, "measured load per run (default 5s, quick 4s)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each run")
	fs.StringVar(&o.out, "out", "", "results directory (default bench/results/<time>)")
	fs.StringVar(&o.proxyCPU, "proxy-cpu", "", "CPU list for the proxy under test (default 1 with two CPUs or more, else unpinned)")
	fs.StringVar(&o.loadCPU, "load-cpu", "", "CPU list for wrk and the upstream (default 0 with two CPUs or more)")
	fs.StringVar(&o.profile, "profile", "", "scenarios to CPU-profile after the measurements (default rs256-reused,rs256-fresh,es256-fresh-10000routes; quick: none; \"none\" for none)")
	fs.StringVar(&o.wrk, "wrk", "wrk", "the wrk binary")
	fs.StringVar(&o.h2load, "h2load", "h2load", "the h2load binary (Debian: nghttp2-client), for the h2 scenarios")
	fs.Float64Var(&o.maxNoise, "max-noise", 0.1, "CPU-s/s that other processes may take on the proxy's CPU before a run is measured again")
	fs.IntVar(&o.retries, "retries", 2, "times a noisy run is measured again, within a budget of a quarter of the runs (quick: 1)")
	fs.DurationVar(&o.quietWait, "quiet-wait", 10*time.Second, "how long to wait for an idle machine before each run (quick: 3s)")
	list := fs.Bool("list", false, "print the scenario grammar and the default sets, then exit")

	fs.StringVar(&o.serve, "serve", "", "internal: run as a child: backends, bare, bare+jwx, tuned-bare, gateway or grpc-load")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "internal: the child's listen address")
	fs.StringVar(&o.upstream, "upstream", "", "internal: the baseline's upstream URL")
	fs.StringVar(&o.jwksFile, "jwks-file", "", "internal: the JWKS document the backends serve")
	fs.StringVar(&o.jwksURL, "jwks-url", "", "internal: where bare+jwx fetches its keys")
	fs.StringVar(&o.config, "config", "", "internal: the gateway child's configuration")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "internal: where the gateway child writes its CPU profile")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "internal: the baseline's TLS certificate (PEM)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "internal: the baseline's TLS key (PEM)")
	fs.BoolVar(&o.h2c, "h2c", false, "internal: the baseline speaks cleartext HTTP/2 to its clients and its upstream")
	fs.StringVar(&o.grpcTarget, "grpc-target", "", "internal: where grpc-load sends its calls (host:port, h2c)")
	fs.StringVar(&o.tokens, "tokens", "", "internal: grpc-load's token file, one a line, cycled over")
	fs.IntVar(&o.calls, "calls", 32, "internal: grpc-load's calls in flight")
	fs.IntVar(&o.conns, "conns", h2Conns, "internal: grpc-load's connections")
	fs.DurationVar(&o.loadFor, "load-for", 5*time.Second, "internal: how long grpc-load starts new calls")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	if *list {
		fmt.Fprint(stdout, scenarioHelp())
		return 0
	}
	var err error
	if o.serve != "" {
		err = serveChild(ctx, o, stdout)
	} else {
		err = harness(ctx, o, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}
