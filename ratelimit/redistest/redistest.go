// Package redistest runs a real redis-server for tests: a child process on
// a loopback port, with no persistence, that a test can stop, kill and
// restart on the same port to see how its code lives through an outage.
//
// It ends only the process it started, by its PID. Where redis-server is not
// installed, Start skips the test (apt-get install redis-server), unless the
// environment sets PORTCULLIS_REDIS_REQUIRED=1, as CI does: then it fails.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequiredEnv names the environment variable that turns a missing
// redis-server from a skip into a failure.
const RequiredEnv = "PORTCULLIS_REDIS_REQUIRED"

// BinaryEnv names the environment variable that may hold the path of
// redis-server (default: the one on PATH).
const BinaryEnv = "PORTCULLIS_REDIS_SERVER"

// startTimeout bounds the wait for a started server to answer PING.
const startTimeout = 10 * time.Second

// Server is one redis-server child process.
type Server struct {
	// Addr is host:port on 127.0.0.1; it stays the same across Restart.
	Addr string
	// URL is redis://Addr/0, without the password.
	URL string
	// Password is the value of a --requirepass argument, if any.
	Password string
	// TLSAddr and TLSURL (rediss://TLSAddr/0) are the TLS port of a server
	// from StartTLS; empty otherwise. TLSConfig trusts its certificate.
	TLSAddr string
	TLSURL  string
	// CAFile is the PEM file of the CA that signed the TLS port's
	// certificate, for a client configured by files (rate_limit_store.tls).
	CAFile string
	tlsCA  *x509.CertPool

	t    testing.TB
	bin  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts redis-server on a free loopback port with no persistence,
// waits until it answers PING, and stops it when the test ends. args are
// added to its command line (e.g. "--requirepass", "secret").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	return start(t, false, args)
}

// StartTLS is Start with a TLS port too, beside the plain one (which Do and
// the readiness check use), serving a certificate for 127.0.0.1 from a CA
// made for the test: connect to TLSURL with TLSConfig.
func StartTLS(t testing.TB, args ...string) *Server {
	t.Helper()
	return start(t, true, args)
}

// binary is the path of redis-server; the test is skipped (or failed, if
// required) when there is none.
func binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv(BinaryEnv); bin != "" {
		return bin
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequiredEnv) == "1" {
			t.Fatalf("redistest: redis-server not found and %s=1: %v", RequiredEnv, err)
		}
		t.Skipf("redistest: redis-server not found (apt-get install redis-server, or set %s): %v", BinaryEnv, err)
	}
	return bin
}

func start(t testing.TB, withTLS bool, args []string) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t)}
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			s.Password = args[i+1]
		}
	}
	dir := t.TempDir()
	var tlsArgs []string
	if withTLS {
		ca, caFile, certFile, keyFile := writeCertificates(t)
		s.tlsCA, s.CAFile = ca, caFile
		tlsArgs = []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no"}
	}
	base := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	err := s.startOnFreePort(func(port int) ([]string, error) {
		a := append(append([]string{"--port", strconv.Itoa(port)}, base...), args...)
		if !withTLS {
			return a, nil
		}
		tlsPort, err := freePort()
		if err != nil {
			return nil, err
		}
		s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
		s.TLSURL = "rediss://" + s.TLSAddr + "/0"
		return append(append(a, "--tls-port", strconv.Itoa(tlsPort)), tlsArgs...), nil
	})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(s.Stop)
	return s
}

// startOnFreePort starts s on a free loopback port, with the arguments
// argsFor gives for it. It tries up to three ports: another process may take
// one between freePort and the server's bind.
func (s *Server) startOnFreePort(argsFor func(port int) ([]string, error)) error {
	var err error
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if s.args, err = argsFor(port); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return nil
		}
	}
	return err
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the process and waits for it to answer.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, s.args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited at start: %s", out.String())
		default:
		}
		if ready(s.Addr) {
			return nil
		}
		if time.Now().After(deadline) {
			s.signal(true)
			<-done
			return fmt.Errorf("redis-server did not answer PING within %s: %s", startTimeout, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ready reports whether the server at addr answers PING (an authentication
// error counts: the server is up).
func ready(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false
	}
	return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
}

// signal ends the process: SIGKILL when kill, else SIGTERM. s.mu is held.
func (s *Server) signal(kill bool) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if kill {
		_ = s.cmd.Process.Kill()
	} else {
		_ = s.cmd.Process.Signal(os.Interrupt)
	}
}

// Stop shuts the server down (SIGINT: a clean shutdown, which with no
// persistence saves nothing) and waits for it to exit, killing it after 5s.
// Stopping a stopped server does nothing.
func (s *Server) Stop() { s.end(false) }

// Kill kills the server (SIGKILL) and waits for it to exit: a crash, or a
// host that vanished, as far as its clients can tell.
func (s *Server) Kill() { s.end(true) }

func (s *Server) end(kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.signal(kill)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.signal(true)
		<-s.done
	}
	s.cmd = nil
}

// Restart starts the server again on the same port, empty (it persists
// nothing), after a Stop or Kill; a running server is stopped first.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		// The port may take a moment to be free again.
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: restart on %s: %v", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the process id of the running server, 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Do sends one command on a new connection (authenticated with Password)
// and returns the first line of the reply without its type byte; an error
// reply is returned as an error. It is for administration in tests:
// CLIENT PAUSE, DEBUG SLEEP, FLUSHALL, PTTL. It does not wait for a reply
// longer than timeout.
func (s *Server) Do(timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	if s.Password != "" {
		if _, err := send(c, r, "AUTH", s.Password); err != nil {
			return "", err
		}
	}
	return send(c, r, args...)
}

// send writes one command in RESP and reads the reply's first line (for a
// bulk string: the string).
func send(c net.Conn, r *bufio.Reader, args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: empty reply")
	}
	switch line[0] {
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return "", err
		}
		return string(body[:n]), nil
	}
	return line[1:], nil
}

// syncBuffer is a bytes.Buffer that the process's output and the test may
// use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
