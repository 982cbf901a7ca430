package outcome_test

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/portcullis/portcullis/outcome"
)

func TestGRPCCode(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   codes.Code
	}{
		{"a missing or bad token is UNAUTHENTICATED", http.StatusUnauthorized, codes.Unauthenticated},
		{"a token without the scope is PERMISSION_DENIED", http.StatusForbidden, codes.PermissionDenied},
		{"no route is NOT_FOUND", http.StatusNotFound, codes.NotFound},
		{"CONNECT is UNIMPLEMENTED", http.StatusMethodNotAllowed, codes.Unimplemented},
		{"a malformed request is INVALID_ARGUMENT", http.StatusBadRequest, codes.InvalidArgument},
		{"a stalled request body is DEADLINE_EXCEEDED", http.StatusRequestTimeout, codes.DeadlineExceeded},
		{"a body over the limit is RESOURCE_EXHAUSTED", http.StatusRequestEntityTooLarge, codes.ResourceExhausted},
		// google/rpc/code.proto's mapping, not the gRPC spec's UNAVAILABLE
		// (which is for an HTTP/1 server's 429 without grpc-status):
		// clients do not retry RESOURCE_EXHAUSTED at once, which is what a
		// spent quota asks of them.
		{"a rate limit is RESOURCE_EXHAUSTED", http.StatusTooManyRequests, codes.ResourceExhausted},
		{"an unreachable upstream is UNAVAILABLE, which clients retry", http.StatusBadGateway, codes.Unavailable},
		{"unavailable keys or overload are UNAVAILABLE", http.StatusServiceUnavailable, codes.Unavailable},
		{"an upstream timeout is DEADLINE_EXCEEDED", http.StatusGatewayTimeout, codes.DeadlineExceeded},
		{"a client that went away is CANCELLED", outcome.ClientClosedRequest, codes.Canceled},
		{"another 4xx is FAILED_PRECONDITION", http.StatusConflict, codes.FailedPrecondition},
		{"another 5xx is INTERNAL", http.StatusInternalServerError, codes.Internal},
		{"a status that is no error is UNKNOWN, never OK", http.StatusNoContent, codes.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codes.Code(outcome.GRPCCode(tt.status)); got != tt.want {
				t.Errorf("GRPCCode(%d) = %v, want %v", tt.status, got, tt.want)
			}
		})
	}
}

// Every refusal the table writes has a code that is not OK.
func TestEveryRefusalHasAGRPCCode(t *testing.T) {
	for _, r := range outcome.Reasons() {
		row := outcome.Of(r)
		if row.Silent {
			continue
		}
		if c := codes.Code(outcome.GRPCCode(row.Status)); c == codes.OK || c == codes.Unknown {
			t.Errorf("%s (%d) has gRPC code %v", r, row.Status, c)
		}
	}
}
