package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/gateway/gatewaytest/testpki"
)

// The proxy port's TLS (server.tls) and HTTP/2 (by ALPN on TLS; cleartext
// by prior knowledge with server.h2c), through the built binary.

// tlsConfigYAML renders a configuration with a public route /v2 to
// upstream, and server lines (indented by two spaces) such as a tls block.
func tlsConfigYAML(upstream, serverLines string) func(listen, admin string) string {
	return func(listen, admin string) string {
		return fmt.Sprintf("server:\n  listen: %q\n  admin_listen: %q\n  shutdown_grace: 2s\n%slog: {level: info, format: json}\nroutes:\n",
			listen, admin, serverLines) + publicRoute("v2", "/v2", upstream)
	}
}

// tlsLines is the server.tls block for a certificate and key.
func tlsLines(certFile, keyFile string) string {
	return fmt.Sprintf("  tls:\n    cert_file: %q\n    key_file: %q\n", certFile, keyFile)
}

// pemPair encodes c as the PEM certificate and PKCS #8 key files an
// operator (or cert-manager: tls.crt, tls.key) would have.
func pemPair(t *testing.T, c tls.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writePair writes c as tls.crt and tls.key in dir, in place (the files
// keep their inodes when they exist).
func writePair(t *testing.T, dir string, c tls.Certificate) {
	t.Helper()
	certPEM, keyPEM := pemPair(t, c)
	for name, b := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// serial is a certificate's serial number.
func serial(t *testing.T, c tls.Certificate) *big.Int {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber
}

// trusting is a pool holding the test CA only.
func trusting(p *testpki.PKI) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

// handshake does a TLS handshake with addr as a client trusting roots and
// capped at maxVersion (0: Go's default), and returns its state. The client
// offers TLS 1.0 and up, so that the server is the one to refuse.
func handshake(addr string, roots *x509.CertPool, maxVersion uint16) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion})
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

// waitSerial polls handshakes with g's proxy port, for at most 10s, until
// the certificate served has serial want.
func waitSerial(t *testing.T, g *gatewaytest.GatewayProcess, roots *x509.CertPool, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		st, err := handshake(g.Listen, roots, 0)
		if err == nil {
			got := st.PeerCertificates[0].SerialNumber
			if got.Cmp(want) == 0 {
				return
			}
			last = "serial " + got.String()
		} else {
			last = err.Error()
		}
		if g.Exited() || time.Now().After(deadline) {
			t.Fatalf("no handshake served the certificate with serial %s within 10s; last: %s", want, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpsClient trusts roots; h2 offers HTTP/2 by ALPN besides HTTP/1.1.
func httpsClient(roots *x509.CertPool, h2 bool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy: nil, DisableKeepAlives: true, ForceAttemptHTTP2: h2,
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
}

// get sends GET url with c and reads the response.
func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return res, body
}

// curl runs curl with args (bounded, no proxy) and returns its stdout; the
// test is skipped when curl, or its HTTP/2 support, is missing.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	if v, err := exec.Command(path, "-V").Output(); err != nil || !strings.Contains(string(v), "HTTP2") {
		t.Skip("this curl has no HTTP/2 support (curl -V lists no HTTP2 feature)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-sS", "--max-time", "5", "--noproxy", "*"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	p := testpki.New(t)
	cert := p.Issue(t, "portcullis", true)
	certFile, keyFile := p.Files(t, "proxy", cert)
	up := gatewaytest.NewUpstream(t)
	// StartGatewayProcess polls the admin port's /healthz over plain HTTP.
	g := startGateway(t, tlsConfigYAML(up.URL, tlsLines(certFile, keyFile)))
	roots := trusting(p)
	proxyURL := "https://" + g.Listen + "/v2/x"

	t.Run("a client trusting the CA gets the certificate over TLS 1.3", func(t *testing.T) {
		st, err := handshake(g.Listen, roots, 0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != tls.VersionTLS13 {
			t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
		}
		if got := st.PeerCertificates[0].SerialNumber; got.Cmp(serial(t, cert)) != 0 {
			t.Errorf("served serial %s, want %s", got, serial(t, cert))
		}
	})
	t.Run("a client capped at TLS 1.2 is served TLS 1.2", func(t *testing.T) {
		st, err := handshake(g.Listen, roots, tls.VersionTLS12)
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != tls.VersionTLS12 {
			t.Errorf("negotiated %s, want TLS 1.2", tls.VersionName(st.Version))
		}
	})
	for _, v := range []uint16{tls.VersionTLS11, tls.VersionTLS10} {
		t.Run("a client capped at "+tls.VersionName(v)+" is refused", func(t *testing.T) {
			st, err := handshake(g.Listen, roots, v)
			if err == nil {
				t.Fatalf("handshake succeeded with %s", tls.VersionName(st.Version))
			}
			if !strings.Contains(err.Error(), "protocol version") {
				t.Errorf("handshake error %q does not say the version was refused", err)
			}
		})
	}
	t.Run("plain HTTP to the TLS port is not served", func(t *testing.T) {
		res, err := client.Get("http://" + g.Listen + "/v2/x")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP to the TLS port: %d, want 400 (net/http's answer to a plain request on a TLS port) or an error", res.StatusCode)
			}
		}
		if up.Count() != 0 {
			t.Errorf("a plain request on the TLS port reached the upstream")
		}
	})
	t.Run("the admin port stays plain HTTP", func(t *testing.T) {
		if res := do(t, http.MethodGet, g.AdminURL("/healthz"), nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET http://admin/healthz: %d", res.StatusCode)
		}
		if _, err := handshake(g.Admin, roots, 0); err == nil {
			t.Error("a TLS handshake with the admin port succeeded")
		}
	})
	t.Run("an HTTP/2 client is served HTTP/2 by ALPN", func(t *testing.T) {
		res, body := get(t, httpsClient(roots, true), proxyURL)
		if res.StatusCode != http.StatusOK || res.Proto != "HTTP/2.0" {
			t.Fatalf("%s %d, want HTTP/2.0 200: %s", res.Proto, res.StatusCode, body)
		}
		if res.TLS.NegotiatedProtocol != "h2" {
			t.Errorf("ALPN %q, want h2", res.TLS.NegotiatedProtocol)
		}
		if h := up.Last().Header; h.Get("Upgrade") != "" || h.Get("Http2-Settings") != "" {
			t.Errorf("the upstream got Upgrade %q, HTTP2-Settings %q", h.Get("Upgrade"), h.Get("Http2-Settings"))
		}
	})
	t.Run("an HTTP/1.1 client is still served HTTP/1.1", func(t *testing.T) {
		res, body := get(t, httpsClient(roots, false), proxyURL)
		if res.StatusCode != http.StatusOK || res.Proto != "HTTP/1.1" {
			t.Fatalf("%s %d, want HTTP/1.1 200: %s", res.Proto, res.StatusCode, body)
		}
	})
	t.Run("curl --http2 is answered over HTTP/2", func(t *testing.T) {
		out := curl(t, "--http2", "--cacert", p.CAFile, "-o", os.DevNull, "-w", "%{http_version} %{http_code}", proxyURL)
		if out != "2 200" {
			t.Errorf("curl --http2: %q, want \"2 200\"", out)
		}
	})
	t.Run("a CONNECT over HTTP/2 is refused with 405", func(t *testing.T) {
		var h2 http.Protocols
		h2.SetHTTP2(true)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			Proxy: nil, Protocols: &h2, TLSClientConfig: &tls.Config{RootCAs: roots},
		}}
		defer c.CloseIdleConnections()
		before := up.Count()
		req := &http.Request{
			Method: http.MethodConnect, Host: "internal.example:443", Header: http.Header{},
			URL: &url.URL{Scheme: "https", Host: g.Listen},
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("CONNECT over HTTP/2: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.ProtoMajor != 2 {
			t.Errorf("CONNECT over HTTP/2: %s %d, want HTTP/2.0 405", res.Proto, res.StatusCode)
		}
		if up.Count() != before {
			t.Error("the CONNECT reached the upstream")
		}
	})
}

// A certificate rotated where the gateway reads it is served from the next
// handshake on, without a restart and without closing the listener; a pair
// that does not load keeps the one served.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()

	t.Run("files rewritten in place, then a key that is not the certificate's, then SIGHUP", func(t *testing.T) {
		t.Parallel()
		p := testpki.New(t)
		roots := trusting(p)
		dir := t.TempDir()
		first := p.Issue(t, "portcullis", true)
		writePair(t, dir, first)
		up := gatewaytest.NewUpstream(t)
		g := startGateway(t, tlsConfigYAML(up.URL, tlsLines(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))))
		waitSerial(t, g, roots, serial(t, first))
		pid := g.PID()

		// A connection opened before the rotation keeps working.
		c := httpsClient(roots, true)
		c.Transport.(*http.Transport).DisableKeepAlives = false
		defer c.CloseIdleConnections()
		if res, _ := get(t, c, "https://"+g.Listen+"/v2/x"); res.StatusCode != http.StatusOK {
			t.Fatalf("before the rotation: %d", res.StatusCode)
		}

		second := p.Issue(t, "portcullis", true)
		writePair(t, dir, second)
		waitSerial(t, g, roots, serial(t, second))
		waitCounter(t, g, "portcullis_tls_certificate_reloads_total", labels("result", "success"), 1)
		if res, _ := get(t, c, "https://"+g.Listen+"/v2/x"); res.StatusCode != http.StatusOK {
			t.Errorf("on the connection opened before the rotation: %d", res.StatusCode)
		}

		// A key of another certificate: refused, the second stays.
		certPEM, _ := pemPair(t, p.Issue(t, "portcullis", true))
		_, otherKey := pemPair(t, p.Issue(t, "other", true))
		if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls.key"), otherKey, 0o600); err != nil {
			t.Fatal(err)
		}
		waitCounter(t, g, "portcullis_tls_certificate_reloads_total", labels("result", "error"), 1)
		if !strings.Contains(g.Stderr(), "TLS certificate reload refused") {
			t.Errorf("the refused pair was not logged:\n%s", gatewaytest.Tail(g.Stderr(), 10))
		}
		waitSerial(t, g, roots, serial(t, second))
		if got := series(scrape(t, g), "portcullis_config_reloads_total")[labels("result", "error")]; got != 0 {
			t.Errorf("a refused certificate counted as a refused configuration reload (%v)", got)
		}

		// Files the watch cannot see change (a symlink into a directory
		// it does not watch) are read again on SIGHUP.
		hidden := t.TempDir()
		third := p.Issue(t, "portcullis", true)
		writePair(t, hidden, third)
		for _, name := range []string{"tls.crt", "tls.key"} {
			if err := os.Symlink(filepath.Join(hidden, name), filepath.Join(dir, name+".new")); err != nil {
				t.Fatal(err)
			}
		}
		// Renames in the watched directory: the pair is now third, which
		// the watch does see; to test SIGHUP alone, change third's files
		// to a fourth pair in the unwatched directory afterwards.
		for _, name := range []string{"tls.crt", "tls.key"} {
			if err := os.Rename(filepath.Join(dir, name+".new"), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		waitSerial(t, g, roots, serial(t, third))
		time.Sleep(2 * reloadDebounceForTests) // let the watch settle
		fourth := p.Issue(t, "portcullis", true)
		writePair(t, hidden, fourth)
		time.Sleep(2 * reloadDebounceForTests)
		if st, err := handshake(g.Listen, roots, 0); err != nil || st.PeerCertificates[0].SerialNumber.Cmp(serial(t, third)) != 0 {
			t.Fatalf("before SIGHUP, a change the watch cannot see was already served (or the handshake failed: %v)", err)
		}
		g.Signal(t, syscall.SIGHUP)
		waitSerial(t, g, roots, serial(t, fourth))
		if g.Exited() || g.PID() != pid {
			t.Error("the process did not survive the rotations")
		}
	})

	t.Run("a Kubernetes Secret's ..data symlink swap", func(t *testing.T) {
		t.Parallel()
		p := testpki.New(t)
		roots := trusting(p)
		dir := t.TempDir()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		version := func(name string, c tls.Certificate) {
			t.Helper()
			must(os.Mkdir(filepath.Join(dir, name), 0o755))
			writePair(t, filepath.Join(dir, name), c)
		}
		// What the kubelet mounts: tls.crt -> ..data/tls.crt, ..data -> ..v1.
		first := p.Issue(t, "portcullis", true)
		version("..v1", first)
		must(os.Symlink("..v1", filepath.Join(dir, "..data")))
		must(os.Symlink("..data/tls.crt", filepath.Join(dir, "tls.crt")))
		must(os.Symlink("..data/tls.key", filepath.Join(dir, "tls.key")))
		up := gatewaytest.NewUpstream(t)
		g := startGateway(t, tlsConfigYAML(up.URL, tlsLines(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))))
		waitSerial(t, g, roots, serial(t, first))

		// cert-manager renewed the Secret: the kubelet writes ..v2 and
		// renames a new ..data symlink over the old one.
		second := p.Issue(t, "portcullis", true)
		version("..v2", second)
		must(os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
		must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		must(os.RemoveAll(filepath.Join(dir, "..v1")))
		waitSerial(t, g, roots, serial(t, second))
		waitCounter(t, g, "portcullis_tls_certificate_reloads_total", labels("result", "success"), 1)
		if got := series(scrape(t, g), "portcullis_tls_certificate_reloads_total")[labels("result", "error")]; got != 0 {
			t.Errorf("the swap counted %v failed reloads", got)
		}
		leaf, _ := x509.ParseCertificate(second.Certificate[0])
		if got := series(scrape(t, g), "portcullis_tls_certificate_expiry_timestamp_seconds")["{}"]; got != float64(leaf.NotAfter.Unix()) {
			t.Errorf("expiry gauge %v, want the new certificate's %d", got, leaf.NotAfter.Unix())
		}
	})
}

// reloadDebounceForTests is how long a test waits for the watch to have
// acted on (or ignored) an event: past the debounce, with room to spare.
const reloadDebounceForTests = reloadDebounce + 250*time.Millisecond

func TestH2C(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	priorKnowledge := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, Protocols: &h2c}}

	t.Run("off by default: a prior-knowledge client is not served", func(t *testing.T) {
		g := startGateway(t, tlsConfigYAML(up.URL, ""))
		defer priorKnowledge.CloseIdleConnections()
		res, err := priorKnowledge.Get(g.URL("/v2/x"))
		if err == nil {
			res.Body.Close()
			t.Fatalf("h2c without server.h2c: %s %d, want an error", res.Proto, res.StatusCode)
		}
	})

	g := startGateway(t, tlsConfigYAML(up.URL, "  h2c: true\n"))
	t.Run("a prior-knowledge client is served HTTP/2", func(t *testing.T) {
		defer priorKnowledge.CloseIdleConnections()
		res, body := get(t, priorKnowledge, g.URL("/v2/x"))
		if res.StatusCode != http.StatusOK || res.Proto != "HTTP/2.0" {
			t.Fatalf("%s %d, want HTTP/2.0 200: %s", res.Proto, res.StatusCode, body)
		}
	})
	t.Run("curl --http2-prior-knowledge is answered over HTTP/2", func(t *testing.T) {
		out := curl(t, "--http2-prior-knowledge", "-o", os.DevNull, "-w", "%{http_version} %{http_code}", g.URL("/v2/x"))
		if out != "2 200" {
			t.Errorf("curl --http2-prior-knowledge: %q, want \"2 200\"", out)
		}
	})
	t.Run("HTTP/1.1 is still served", func(t *testing.T) {
		if res := do(t, http.MethodGet, g.URL("/v2/x"), nil); res.StatusCode != http.StatusOK || res.Proto != "HTTP/1.1" {
			t.Errorf("%s %d, want HTTP/1.1 200", res.Proto, res.StatusCode)
		}
	})
	t.Run("an HTTP/1.1 Upgrade: h2c is not taken, and never reaches the upstream", func(t *testing.T) {
		// curl --http2 on http:// asks for the upgrade of RFC 7540 §3.2.
		out := curl(t, "--http2", "-o", os.DevNull, "-w", "%{http_version} %{http_code}", g.URL("/v2/upgrade"))
		if out != "1.1 200" {
			t.Errorf("curl --http2 (Upgrade: h2c): %q, want \"1.1 200\"", out)
		}
		last := up.Last()
		if last.URL.Path != "/v2/upgrade" {
			t.Fatalf("the upstream's last request is %s", last.URL.Path)
		}
		if h := last.Header; h.Get("Upgrade") != "" || h.Get("Http2-Settings") != "" {
			t.Errorf("the upstream got Upgrade %q, HTTP2-Settings %q", h.Get("Upgrade"), h.Get("Http2-Settings"))
		}
	})
	t.Run("a CONNECT over h2c is refused with 405", func(t *testing.T) {
		defer priorKnowledge.CloseIdleConnections()
		before := up.Count()
		req := &http.Request{
			Method: http.MethodConnect, Host: "internal.example:443", Header: http.Header{},
			URL: &url.URL{Scheme: "http", Host: g.Listen},
		}
		res, err := priorKnowledge.Do(req)
		if err != nil {
			t.Fatalf("CONNECT over h2c: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("CONNECT over h2c: %s %d, want 405", res.Proto, res.StatusCode)
		}
		if up.Count() != before {
			t.Error("the CONNECT reached the upstream")
		}
	})
}

// server.h2c with server.tls is refused at load: a TLS port offers HTTP/2
// by ALPN already, and cleartext HTTP/2 cannot be spoken on it.
func TestH2CWithTLSIsRefused(t *testing.T) {
	t.Parallel()
	render := tlsConfigYAML("http://127.0.0.1:1", tlsLines("/nonexistent/tls.crt", "/nonexistent/tls.key")+"  h2c: true\n")
	path := gatewaytest.WriteFile(t, "portcullis.yaml", render("127.0.0.1:0", "127.0.0.1:1"))
	code, _, stderr := runCommand(t, nil, "validate", "-config", path)
	if code == 0 || !strings.Contains(stderr, "server.h2c") {
		t.Errorf("validate: exit code %d, want an error naming server.h2c:\n%s", code, stderr)
	}
}
