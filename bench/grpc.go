package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The gRPC scenarios: the upstream the backends serve, the load generator
// (bench -serve grpc-load; ghz is not packaged, and a generator in the
// harness's own language keeps the run self-contained), and the smoke call.
// Everything is cleartext HTTP/2 (h2c) on loopback: the load to the proxy
// (server.h2c for portcullis), the proxy to the upstream
// (upstream_protocol: h2c), so that neither side pays for TLS and the
// proxies' own work is what differs.

// echoService is the gRPC upstream: UnaryCall answers its request's
// payload; to the smoke call (metadata x-bench-smoke), it also echoes the
// x-user-id metadata it received as the response header x-seen-user-id,
// so that the smoke call can check that the claim headers reached it (as
// the HTTP upstream's X-Seen-User-Id does).
type echoService struct {
	testpb.UnimplementedTestServiceServer
}

func (echoService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if u := md.Get("x-user-id"); len(u) > 0 && len(md.Get(smokeHeader)) > 0 {
			_ = grpc.SetHeader(ctx, metadata.Pairs("x-seen-user-id", u[0]))
		}
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func newGRPCUpstream() *grpc.Server {
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, echoService{})
	return srv
}

// grpcRequest is every call's request: the HTTP upstream's answer as its
// payload, so that both kinds of scenario move about as many bytes.
var grpcRequest = &testpb.SimpleRequest{Payload: &testpb.Payload{Body: upstreamBody}}

// dialGRPC opens a client connection in h2c (prior knowledge) to addr,
// host:port, without name resolution.
func dialGRPC(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// grpcSmoke makes one call with tok and returns the x-seen-user-id the
// upstream answered (empty when the proxy forwarded no claim).
func grpcSmoke(ctx context.Context, addr, tok string) (string, error) {
	conn, err := dialGRPC(addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok, smokeHeader, "1")
	var header metadata.MD
	res, err := testpb.NewTestServiceClient(conn).UnaryCall(ctx, grpcRequest, grpc.Header(&header))
	if err != nil {
		return "", fmt.Errorf("smoke call: %w", err)
	}
	if string(res.GetPayload().GetBody()) != string(upstreamBody) {
		return "", fmt.Errorf("smoke call: payload %q, want the request's", res.GetPayload().GetBody())
	}
	if v := header.Get("x-seen-user-id"); len(v) > 0 {
		return v[0], nil
	}
	return "", nil
}

// grpcLoad is the gRPC load generator: o.calls workers, each with one call
// in flight at a time (a closed loop, like wrk), spread over o.conns
// connections, start calls for o.loadFor and then wait for the last ones,
// each bounded by 5 seconds (wrk's --timeout). Each call carries the next
// of the token file's tokens in its metadata ("authorization: Bearer"),
// each worker from its own offset. It prints one BENCH line in the wrk
// script's format (see wrkResult.benchLine).
func grpcLoad(ctx context.Context, o options, stdout io.Writer) error {
	if o.grpcTarget == "" || o.calls < 1 || o.conns < 1 || o.loadFor <= 0 {
		return errors.New("grpc-load: -grpc-target, -calls, -conns and -load-for are required")
	}
	toks, err := readLines(o.tokens)
	if err != nil {
		return err
	}
	conns := make([]testpb.TestServiceClient, o.conns)
	for i := range conns {
		conn, err := dialGRPC(o.grpcTarget)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.Connect()
		conns[i] = testpb.NewTestServiceClient(conn)
	}
	lctx, cancel := context.WithTimeout(ctx, o.loadFor+time.Minute)
	defer cancel()
	// One outgoing context per token, made before the load: the
	// generator's own per-call work is kept to the call itself.
	withToken := make([]context.Context, len(toks))
	for i, t := range toks {
		withToken[i] = metadata.NewOutgoingContext(lctx, metadata.Pairs("authorization", "Bearer "+t))
	}
	type tally struct {
		lat              []time.Duration
		failed, timeouts int64
	}
	tallies := make([]tally, o.calls)
	start := time.Now()
	stop := start.Add(o.loadFor)
	var wg sync.WaitGroup
	for w := range o.calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[w]
			t.lat = make([]time.Duration, 0, 4096)
			client := conns[w%len(conns)]
			next := w * len(withToken) / o.calls
			for time.Now().Before(stop) && lctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(withToken[next], 5*time.Second)
				next = (next + 1) % len(withToken)
				began := time.Now()
				_, err := client.UnaryCall(cctx, grpcRequest)
				ccancel()
				t.lat = append(t.lat, time.Since(began))
				if err != nil {
					t.failed++
					if status.Code(err) == codes.DeadlineExceeded {
						t.timeouts++
					}
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var lat []time.Duration
	r := wrkResult{Duration: wall}
	for _, t := range tallies {
		lat = append(lat, t.lat...)
		r.Status += t.failed - t.timeouts
		r.Errors += t.failed
	}
	r.Requests, r.Sent = int64(len(lat)), int64(len(lat))
	r.setLatencies(lat)
	_, err = fmt.Fprintln(stdout, r.benchLine(r.Errors-r.Status))
	return err
}

// readLines reads a file's non-empty lines (a token file).
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no lines", path)
	}
	return out, nil
}

// setLatencies sets the percentiles and the maximum from every request's
// latency (the order does not matter; lat is sorted in place).
func (r *wrkResult) setLatencies(lat []time.Duration) {
	slices.Sort(lat)
	r.P50, r.P90 = percentile(lat, 50), percentile(lat, 90)
	r.P99, r.P999 = percentile(lat, 99), percentile(lat, 99.9)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
}

// percentile is the nearest-rank percentile p (0 < p <= 100) of sorted
// latencies: the smallest value that at least p% of them do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// benchLine is r as the wrk script's done() prints it, for parseBenchLine;
// timeouts are counted apart from r.Status.
func (r wrkResult) benchLine(timeouts int64) string {
	us := func(d time.Duration) int64 { return d.Microseconds() }
	return fmt.Sprintf("BENCH requests=%d duration_us=%d bytes=0 connect=0 read=0 write=0 status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=0 sent=%d wrapped=%d",
		r.Requests, us(r.Duration), r.Status, timeouts, us(r.P50), us(r.P90), us(r.P99), us(r.P999), us(r.Max), r.Sent, r.Wrapped)
}
