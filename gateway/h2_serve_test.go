package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
)

// serveListeners runs g.Serve, the listeners of `portcullis serve`, until
// the test ends, and returns the proxy's address from its "serving" line.
func serveListeners(t *testing.T, g *gatewaytest.Gateway) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return within 15s")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, e := range g.Logs.FilterMessage("serving").All() {
			if addr, ok := e.ContextMap()["listen"].(string); ok {
				return addr
			}
		}
	}
	t.Fatal("no serving line within 10s")
	return ""
}

// One HTTP/2 connection that opens max_in_flight streams for large
// responses and then stops reading must not hold the slots: Go's HTTP/2
// server keeps a stream's handler until its reset is written, which a
// stalled connection never allows, so only closing the connection
// (WriteByteTimeout, at write_timeout) frees them. Over TLS and h2c.
func TestHTTP2ClientThatStopsReadingReleasesItsSlots(t *testing.T) {
	for _, mode := range []string{"h2c", "h2 over TLS"} {
		t.Run(mode, func(t *testing.T) {
			big := bytes.Repeat([]byte("x"), 8<<20)
			up := gatewaytest.NewUpstream(t)
			up.SetHandler(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) })
			const slots = 4
			listener := "h2c: true"
			if mode != "h2c" {
				pki := testpki.New(t)
				cf, kf := pki.Files(t, "gw", pki.Issue(t, "127.0.0.1", true))
				listener = fmt.Sprintf("tls: {cert_file: %q, key_file: %q}", cf, kf)
			}
			g := gatewaytest.StartYAML(t, fmt.Sprintf(`
server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
  %s
  read_timeout: 2s
  write_timeout: 2s
  idle_timeout: 1s
  max_in_flight: %d
routes:
  - name: big
    match: {path_prefix: /}
    upstream: %q
    stream_idle_timeout: 1s
    auth: {mode: public}
`, listener, slots, up.URL))
			addr := serveListeners(t, g)

			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			_ = raw.(*net.TCPConn).SetReadBuffer(4096)
			var c net.Conn = raw
			scheme := "http"
			if mode != "h2c" {
				tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) // #nosec G402 -- the test's own certificate
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c, scheme = tc, "https"
			}
			bw := bufio.NewWriter(c)
			_, _ = bw.WriteString(http2.ClientPreface)
			fr := http2.NewFramer(bw, c)
			_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
			_ = fr.WriteWindowUpdate(0, 1<<31-1-65535)
			for i := range slots {
				var hb bytes.Buffer
				enc := hpack.NewEncoder(&hb)
				for _, kv := range [][2]string{{":method", "GET"}, {":scheme", scheme}, {":authority", "api.example.com"}, {":path", "/big"}} {
					_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
				}
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			// It never reads again. Past write_timeout, another client
			// must find the slots free.
			time.Sleep(4 * time.Second)
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // #nosec G402 -- as above
			res, err := client.Get(scheme + "://" + addr + "/other")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("another client 4s later: %d, want 200 (one stalled HTTP/2 connection held the %d max_in_flight slots)", res.StatusCode, slots)
			}
		})
	}
}
