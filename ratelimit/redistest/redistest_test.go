package redistest

import (
	"testing"
	"time"
)

func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	if got, err := s.Do(time.Second, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	if _, err := s.Do(time.Second, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	pid := s.PID()
	s.Kill()
	if s.PID() != 0 {
		t.Fatal("PID after Kill is not 0")
	}
	if _, err := s.Do(200*time.Millisecond, "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	addr := s.Addr
	s.Restart()
	if s.Addr != addr || s.PID() == 0 || s.PID() == pid {
		t.Fatalf("Restart: addr %s (was %s), pid %d (was %d)", s.Addr, addr, s.PID(), pid)
	}
	if got, err := s.Do(time.Second, "GET", "k"); err != nil || got != "" {
		t.Fatalf("GET after Restart = %q, %v; want nothing: no persistence", got, err)
	}
	s.Stop()
	s.Stop() // stopping twice does nothing
}

func TestServerPassword(t *testing.T) {
	s := Start(t, "--requirepass", "pw")
	if s.Password != "pw" {
		t.Fatalf("Password = %q", s.Password)
	}
	if got, err := s.Do(time.Second, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING with AUTH = %q, %v", got, err)
	}
}
