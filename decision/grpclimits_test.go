package decision_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/portcullis/portcullis/decision"
)

// h2Conn is a client that speaks HTTP/2 to the gRPC listener by hand, as a
// hostile client could: it sends what it likes, whatever the server
// advertises.
type h2Conn struct {
	net.Conn
	*http2.Framer
}

// dialH2 connects to addr. Every read and write on the connection ends
// within 5 seconds, so that no wait in a test can hang it.
func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the server shuts down (cleanups run last first), so
	// that its graceful stop does not wait on this connection.
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &h2Conn{Conn: c, Framer: http2.NewFramer(c, c)}
}

// handshake sends the client preface and an empty SETTINGS frame, and
// returns the settings the server sent in its own.
func (c *h2Conn) handshake(t *testing.T) map[http2.SettingID]uint32 {
	t.Helper()
	if _, err := io.WriteString(c.Conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			settings := map[http2.SettingID]uint32{}
			_ = s.ForeachSetting(func(s http2.Setting) error {
				settings[s.ID] = s.Val
				return nil
			})
			return settings
		}
	}
}

// writeHeaders opens stream id with the header fields, and ends it: a
// call with no message.
func (c *h2Conn) writeHeaders(t *testing.T, id uint32, fields [][2]string) {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, h := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	if err := c.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true, EndStream: true}); err != nil {
		t.Fatal(err)
	}
}

// next reads frames until one of type T arrives, and returns it.
func next[T http2.Frame](t *testing.T, c *h2Conn, what string) T {
	t.Helper()
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if f, ok := f.(T); ok {
			return f
		}
		if h, ok := f.(*http2.HeadersFrame); ok {
			t.Fatalf("waiting for %s: the server answered stream %d", what, h.StreamID)
		}
	}
}

// A call whose metadata is over server.max_header_bytes is refused by the
// transport, whether the client heeds the limit the server advertises or
// not, and calls within it are still answered on the same server.
func TestGRPCMetadataOverMaxHeaderBytesIsRefused(t *testing.T) {
	f := newLimitedGRPCFixture(t, "127.0.0.1/32", decision.GRPCLimits{MaxHeaderBytes: 4096})
	call := func(padding int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "x-padding", strings.Repeat("a", padding))
		_, err := f.client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: envoyRequest("GET", "api.example.com", "/public/x", nil)},
		}})
		return err
	}

	// grpc-go's client heeds the SETTINGS_MAX_HEADER_LIST_SIZE the server
	// advertised and refuses to send the call itself: INTERNAL, "header
	// list size to send violates the maximum size". Without the limit the
	// server would advertise none and the call would be answered.
	if err := call(5000); status.Code(err) != codes.Internal {
		t.Errorf("a call with 5000 bytes of metadata, limit 4096: %v, want INTERNAL", err)
	}
	if err := call(100); err != nil {
		t.Errorf("a call with 100 bytes of metadata on the same server: %v, want it answered", err)
	}

	// A client that ignores the advertised limit has the call refused by
	// the server's transport before any handler runs: metadata over the
	// limit in all has its stream reset (FRAME_SIZE_ERROR); one value
	// longer than the whole limit is a COMPRESSION_ERROR of the
	// connection, which is closed.
	fields := [][2]string{
		{":method", "POST"},
		{":scheme", "http"},
		{":path", "/envoy.service.auth.v3.Authorization/Check"},
		{":authority", f.addr},
		{"content-type", "application/grpc"},
		{"te", "trailers"},
	}
	for i := range 5 {
		fields = append(fields, [2]string{fmt.Sprintf("x-padding-%d", i), strings.Repeat("a", 1000)})
	}
	c := dialH2(t, f.addr)
	c.handshake(t)
	c.writeHeaders(t, 1, fields)
	rst := next[*http2.RSTStreamFrame](t, c, "the oversized call's RST_STREAM")
	if rst.StreamID != 1 || rst.ErrCode != http2.ErrCodeFrameSize {
		t.Errorf("RST_STREAM stream %d %v, want stream 1 FRAME_SIZE_ERROR", rst.StreamID, rst.ErrCode)
	}

	c = dialH2(t, f.addr)
	c.handshake(t)
	c.writeHeaders(t, 1, append(fields[:6:6], [2]string{"x-padding", strings.Repeat("a", 5000)}))
	for {
		fr, err := c.ReadFrame()
		if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a call with one 5000-byte metadata value, limit 4096: the connection was still open after 5s")
		}
		if err != nil {
			break
		}
		if h, ok := fr.(*http2.HeadersFrame); ok {
			t.Fatalf("a call with one 5000-byte metadata value, limit 4096: the server answered stream %d", h.StreamID)
		}
	}
}

// The server tells each client in its SETTINGS how many calls it may have
// in flight on one connection (250, as Go's HTTP/2 server allows) and how
// large their metadata may be (server.max_header_bytes).
func TestGRPCAdvertisesItsLimits(t *testing.T) {
	for _, c := range []struct {
		name   string
		limits decision.GRPCLimits
		header uint32
	}{
		{"max_header_bytes as configured", decision.GRPCLimits{MaxHeaderBytes: 4096}, 4096},
		{"max_header_bytes left out takes the server default", decision.GRPCLimits{}, 32768},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newLimitedGRPCFixture(t, "127.0.0.1/32", c.limits)
			settings := dialH2(t, f.addr).handshake(t)
			if got := settings[http2.SettingMaxConcurrentStreams]; got != 250 {
				t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 250", got)
			}
			if got := settings[http2.SettingMaxHeaderListSize]; got != c.header {
				t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want %d", got, c.header)
			}
		})
	}
}

// A connection that never sends the HTTP/2 preface is closed after
// server.read_header_timeout, so that silent connections cannot pile up.
func TestGRPCConnectionThatNeverSpeaksIsClosed(t *testing.T) {
	f := newLimitedGRPCFixture(t, "127.0.0.1/32", decision.GRPCLimits{HandshakeTimeout: 300 * time.Millisecond})
	c := dialH2(t, f.addr)
	// The server sends its SETTINGS first; read them and on to the end.
	_, err := io.Copy(io.Discard, c.Conn)
	if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a connection that sent nothing was still open after 5s (handshake timeout 300ms)")
	}
}

// A connection with no call for server.idle_timeout is sent GOAWAY, and a
// grpc-go client (Envoy alike) opens a new one for its next call.
func TestGRPCIdleConnectionIsSentGOAWAY(t *testing.T) {
	f := newLimitedGRPCFixture(t, "127.0.0.1/32", decision.GRPCLimits{IdleTimeout: 500 * time.Millisecond})

	c := dialH2(t, f.addr)
	c.handshake(t)
	if g := next[*http2.GoAwayFrame](t, c, "GOAWAY on an idle connection"); g.ErrCode != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v, want NO_ERROR", g.ErrCode)
	}

	f.check(t, envoyRequest("GET", "api.example.com", "/public/x", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for s := f.conn.GetState(); s == connectivity.Ready; s = f.conn.GetState() {
		if !f.conn.WaitForStateChange(ctx, s) {
			t.Fatalf("the client's connection was still READY 5s after its only call (idle timeout 500ms)")
		}
	}
	res := f.check(t, envoyRequest("GET", "api.example.com", "/public/x", nil))
	if codes.Code(res.GetStatus().GetCode()) != codes.OK {
		t.Errorf("the call after the idle connection closed: %v, want OK", res)
	}
}
