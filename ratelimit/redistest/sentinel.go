package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// SentinelMaster is the master name a server from StartSentinel monitors.
const SentinelMaster = "mymaster"

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) on a free
// loopback port, monitoring master under the name SentinelMaster with a
// quorum of 1, and stops it when the test ends. Its URL is redis://Addr.
func StartSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	s := &Server{t: t, bin: binary(t)}
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	host, masterPort, _ := net.SplitHostPort(master.Addr)
	err := s.startOnFreePort(func(port int) ([]string, error) {
		// Sentinel rewrites its configuration file: it must be its own.
		text := fmt.Sprintf("bind 127.0.0.1\nport %d\nsentinel monitor %s %s %s 1\n", port, SentinelMaster, host, masterPort)
		if master.Password != "" {
			text += fmt.Sprintf("sentinel auth-pass %s %s\n", SentinelMaster, master.Password)
		}
		return []string{conf, "--sentinel"}, os.WriteFile(conf, []byte(text), 0o600)
	})
	if err != nil {
		t.Fatalf("redistest: sentinel: %v", err)
	}
	s.URL = "redis://" + s.Addr
	t.Cleanup(s.Stop)
	return s
}
