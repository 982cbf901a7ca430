//go:build !linux

package redistest

import "os/exec"

// dieWithTest does nothing where the kernel offers no parent-death signal:
// a server outlives a test binary that dies before its cleanups run.
func dieWithTest(*exec.Cmd) {}
