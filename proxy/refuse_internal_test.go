package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/outcome"
)

func TestGRPCMessageIsPercentEncoded(t *testing.T) {
	for in, want := range map[string]string{
		"the token has expired": "the token has expired",
		"100% sure":             "100%25 sure",
		"café\n":                "caf%C3%A9%0A",
	} {
		if got := grpcMessage(in); got != want {
			t.Errorf("grpcMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// grpcCall tells a gRPC call by its Content-Type, and answers its refusal
// in the call's own protocol and codec, from a fixed set: a gRPC-Web
// client rejects an application/grpc answer.
func TestGRPCCall(t *testing.T) {
	for ct, want := range map[string]string{
		"application/grpc":                      "application/grpc",
		"application/grpc+proto":                "application/grpc+proto",
		"application/GRPC;charset=x":            "application/grpc",
		"application/GRPC+JSON; charset=utf-8":  "application/grpc+json",
		"application/grpc-web+proto":            "application/grpc-web+proto",
		"application/grpc-web-text":             "application/grpc-web-text",
		"application/grpc-web+thrift":           "application/grpc-web",
		"application/grpc-web-text+\r\nevil":    "application/grpc-web-text",
		"application/grpc+custom-codec;x=\"y\"": "application/grpc",
		"application/json":                      "",
		"application/grpcx":                     "",
		"":                                      "",
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Content-Type", ct)
		if got := grpcCall(r); got != want {
			t.Errorf("grpcCall(POST %q) = %q, want %q", ct, got, want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Content-Type", "application/grpc")
	if got := grpcCall(r); got != "" {
		t.Errorf("a GET is no gRPC call: %q", got)
	}
}

// A refused gRPC call is a trailers-only response with the row's code,
// the challenge, and the row's status kept for the metrics.
func TestRefusalOfAGRPCCall(t *testing.T) {
	w := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: w, grpc: "application/grpc"}
	refuse(rec, outcome.InsufficientScope, "orders:read", "")
	h := w.Result().Header
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("wrote %d with %d bytes, want 200 with headers only", w.Code, w.Body.Len())
	}
	if h.Get("Content-Type") != "application/grpc" || h.Get("Grpc-Status") != "7" || h.Get("Grpc-Message") != "the token lacks a required scope" {
		t.Errorf("headers %v", h)
	}
	if h.Get("WWW-Authenticate") == "" {
		t.Errorf("no challenge")
	}
	if rec.status != http.StatusForbidden {
		t.Errorf("recorded status %d, want 403", rec.status)
	}
}

// A refusal is written in the Content-Type grpcCall chose.
func TestGRPCRefusalSpeaksTheCallsType(t *testing.T) {
	w := httptest.NewRecorder()
	rec := &recorder{ResponseWriter: w, grpc: "application/grpc-web+proto"}
	refuse(rec, outcome.Missing, "", "")
	if h := w.Result().Header; h.Get("Content-Type") != "application/grpc-web+proto" || h.Get("Grpc-Status") != "16" {
		t.Errorf("headers %v, want application/grpc-web+proto with grpc-status 16", h)
	}
}
