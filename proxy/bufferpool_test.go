package proxy_test

import (
	"testing"

	"github.com/portcullis/portcullis/proxy"
)

// TestBufferPoolLendsWholeBuffersAndKeepsOnlyThose: the pool lends 32 KiB
// buffers, drops a buffer that is not one of its own, and lends and takes
// back without allocating (the reason it holds array pointers).
func TestBufferPoolLendsWholeBuffersAndKeepsOnlyThose(t *testing.T) {
	p := proxy.NewBufferPool()
	buf := p.Get()
	if len(buf) != 32<<10 {
		t.Fatalf("a %d-byte buffer", len(buf))
	}
	p.Put(buf[:100]) // not one of its own: dropped, no panic
	p.Put(buf)
	if allocs := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); allocs > 0.1 {
		t.Errorf("%.1f allocations per Get and Put, want none", allocs)
	}
}
