package gatewaytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildBinary builds the main package pkg (a path as `go build` takes it)
// into a new temporary directory as name, for a TestMain to run before the
// tests. Under `go test -race` the binary is built with -race too (see
// RaceEnabled), so that a data race inside it fails the test that provoked
// it. remove deletes the directory; the error carries the build's output.
func BuildBinary(pkg, name string) (path string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "portcullis-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("a directory for the binary: %w", err)
	}
	remove = func() { _ = os.RemoveAll(dir) }
	path = filepath.Join(dir, name)
	args := []string{"build", "-o", path}
	if RaceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, pkg)...)
	if out, err := build.CombinedOutput(); err != nil {
		remove()
		return "", nil, fmt.Errorf("go %s: %w\n%s", strings.Join(build.Args[1:], " "), err, out)
	}
	return path, remove, nil
}

// Process is a program started by a test, with its stdout and stderr
// captured while the test reads them.
type Process struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr SyncBuffer
	done           chan struct{} // closed when the process has exited
	waitErr        error         // cmd.Wait's result; read only after done
}

// StartProcess starts cmd, which the caller has set up (path, arguments,
// and Env: nil inherits the test's whole environment, as with exec), and
// calls it name in messages. When the test ends the process is killed by
// its PID if it is still running, the test fails if the race detector
// reported a data race in it, and the tails of its stdout and stderr are
// logged if the test failed.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 2 * time.Second // never wait on pipes forever
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, strings.Join(cmd.Args, " "), err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Errorf("%s (pid %d) still running 5s after SIGKILL", name, p.PID())
			}
		}
		if strings.Contains(p.Stderr(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a data race in %s:\n%s", name, p.Stderr())
		}
		if t.Failed() {
			t.Logf("%s %s (pid %d)\n--- stdout (tail)\n%s\n--- stderr (tail)\n%s",
				name, strings.Join(cmd.Args[1:], " "), p.PID(), Tail(p.Stdout(), 30), Tail(p.Stderr(), 30))
		}
	})
	return p
}

// Name is what messages call the process.
func (p *Process) Name() string { return p.name }

// PID is the process's id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stdout is what the process has written to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr is what the process has written to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Output is stdout followed by stderr, for searching and messages.
func (p *Process) Output() string { return p.Stdout() + p.Stderr() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the process's exit code, or -1 while it runs (or if a
// signal ended it).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Wait waits at most timeout for the process to exit and returns its exit
// code; it fails the test if the process is still running then.
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s (pid %d) did not exit within %v\nstderr (tail):\n%s", p.name, p.PID(), timeout, Tail(p.Stderr(), 20))
	}
	var exitErr *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) {
		t.Fatalf("waiting for %s: %v", p.name, p.waitErr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process by its PID; failing to is a test failure.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s (pid %d): %v", sig, p.name, p.PID(), err)
	}
}

// Stop ends the process by its PID: SIGTERM, then SIGKILL if it has not
// exited within grace. It reports whether SIGTERM was enough.
func (p *Process) Stop(t testing.TB, grace time.Duration) bool {
	t.Helper()
	if p.Exited() {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Errorf("%s (pid %d) still running 5s after SIGKILL", p.name, p.PID())
	}
	return false
}

// Tail is the last n lines of s, preceded by how many were left out.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d earlier lines]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// SyncBuffer collects what a process or a logger writes while the test
// reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreeAddr returns a loopback address (127.0.0.1:port) whose port was free
// a moment ago. Another process may take it before the program under test
// does: callers that start a server retry on "address already in use", as
// StartGatewayProcess does.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WriteFile writes content into a file of the test's temporary directory
// and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pollClient is what WaitStatus and StartGatewayProcess poll with: bounded,
// no proxy from the environment, and no connection reuse, so that each
// poll sees what a new client would (a draining listener included).
var pollClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// WaitStatus polls url with GET until it answers want, for at most
// timeout, and returns that response with its body read. It fails the test
// if p exits meanwhile, or with the last answer at the deadline.
func WaitStatus(t testing.TB, p *Process, url string, want int, timeout time.Duration) (*http.Response, []byte) {
	t.Helper()
	res, body, last := poll(p, url, want, time.Now().Add(timeout))
	switch {
	case res != nil:
		return res, body
	case p.Exited():
		t.Fatalf("%s exited (code %d) while waiting for %d from %s", p.name, p.ExitCode(), want, url)
	default:
		t.Fatalf("GET %s: no %d within %v; last answer: %s", url, want, timeout, last)
	}
	return nil, nil
}

// WaitServing polls url with GET until it answers 200, for at most within,
// and reports true then; it reports false if p exited first, so that the
// caller can look at why (a port taken since FreeAddr, say) and start it
// again. It fails the test at the deadline.
func WaitServing(t testing.TB, p *Process, url string, within time.Duration) bool {
	t.Helper()
	res, _, last := poll(p, url, http.StatusOK, time.Now().Add(within))
	if res == nil && !p.Exited() {
		t.Fatalf("%s: no 200 from %s within %v; last answer: %s", p.name, url, within, last)
	}
	return res != nil
}

// poll GETs url every 25ms until it answers want (returned with its body),
// p exits or the deadline passes (nil, with the last answer).
func poll(p *Process, url string, want int, deadline time.Time) (*http.Response, []byte, string) {
	var last string
	for {
		res, err := pollClient.Get(url)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == want {
				return res, body, ""
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if p.Exited() || time.Now().After(deadline) {
			return nil, nil, last
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// GatewayProcess is a `portcullis serve` process whose listeners are up.
type GatewayProcess struct {
	*Process
	Listen, Admin string // host:port of the proxy and of the admin listener
	Config        string // path of its configuration file
}

// URL is the proxy listener's URL for path.
func (g *GatewayProcess) URL(path string) string { return "http://" + g.Listen + path }

// AdminURL is the admin listener's URL for path.
func (g *GatewayProcess) AdminURL(path string) string { return "http://" + g.Admin + path }

// StartGatewayProcess writes the configuration that render returns for two
// free loopback addresses, runs `bin serve -config FILE` with exactly env
// (see StartProcess) and waits (at most 10s) until the admin listener
// answers /healthz with 200. It does not wait for the keys: poll /readyz
// with WaitStatus for that. A port that another process took in the
// meantime is retried with new ones, twice.
func StartGatewayProcess(t testing.TB, bin string, env []string, render func(listen, admin string) string) *GatewayProcess {
	t.Helper()
	for attempt := 1; ; attempt++ {
		listen, admin := FreeAddr(t), FreeAddr(t)
		path := WriteFile(t, "portcullis.yaml", render(listen, admin))
		cmd := exec.Command(bin, "serve", "-config", path)
		cmd.Env = env
		g := &GatewayProcess{Process: StartProcess(t, "portcullis", cmd), Listen: listen, Admin: admin, Config: path}
		if WaitServing(t, g.Process, g.AdminURL("/healthz"), 10*time.Second) {
			return g
		}
		if !strings.Contains(g.Stderr(), "address already in use") || attempt == 3 {
			t.Fatalf("portcullis serve exited with code %d before serving\nstderr:\n%s", g.ExitCode(), Tail(g.Stderr(), 30))
		}
	}
}
