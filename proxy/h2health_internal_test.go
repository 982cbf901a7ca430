package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// An h2c upstream connection that goes silent (no FIN, no RST: a node
// gone, a NAT entry dropped) is found dead by PING and replaced: requests
// fail only until the ping's answer is overdue, not for the kernel's
// retransmission timeout. The relay freezes the connection it carries
// without closing it; a new connection through it works.
func TestSilentH2CUpstreamConnectionIsReplaced(t *testing.T) {
	upstreamPingAfter, upstreamPingTimeout = 500*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { upstreamPingAfter, upstreamPingTimeout = 30*time.Second, 15*time.Second })

	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	}), Protocols: new(http.Protocols)}
	up.Protocols.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { up.Close() })
	rl := newFreezingRelay(t, ln.Addr().String())

	tr, err := newRouteTransport(policy.Transport{Protocol: policy.H2C})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	get := func() (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rl.addr()+"/x", nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || body != "HTTP/2.0" {
		t.Fatalf("before: %d %q, want 200 over HTTP/2", code, body)
	}
	rl.freeze()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := get()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the connection went silent, requests still fail; connections dialed: %d", rl.dialed())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := rl.dialed(); n != 2 {
		t.Errorf("%d connections dialed, want 2: the silent one and its replacement", n)
	}
}

// freezingRelay relays TCP connections to target; freeze stops every
// connection accepted so far, both ways, without closing it.
type freezingRelay struct {
	ln     net.Listener
	mu     sync.Mutex
	stops  []chan struct{}
	count  int
	closed chan struct{}
}

func newFreezingRelay(t *testing.T, target string) *freezingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &freezingRelay{ln: ln, closed: make(chan struct{})}
	var conns []net.Conn
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		close(r.closed)
		r.mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		r.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			stop := make(chan struct{})
			r.mu.Lock()
			r.stops = append(r.stops, stop)
			r.count++
			conns = append(conns, c, u)
			r.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); r.pump(u, c, stop) }()
			go func() { defer wg.Done(); r.pump(c, u, stop) }()
		}
	}()
	return r
}

func (r *freezingRelay) addr() string { return r.ln.Addr().String() }

func (r *freezingRelay) dialed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

func (r *freezingRelay) freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.stops {
		close(s)
	}
	r.stops = nil
}

// pump copies src to dst until either fails; once stopped it moves nothing
// more and holds both ends open until the test ends.
func (r *freezingRelay) pump(dst, src net.Conn, stop chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-stop:
			<-r.closed
			return
		default:
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
