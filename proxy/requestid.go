package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

// RequestIDHeader carries the request id to the upstream and back to the
// client.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client's request id; longer ones are replaced.
const maxRequestIDLen = 128

// requestID keeps a client's X-Request-Id when it is short and made only of
// characters that are safe in logs and headers (letters, digits, '-', '_',
// '.', ':'), so that an id set by an edge proxy follows the request; any
// other value is replaced by a new random id rather than repaired, so that
// nothing a client sends can forge log structure.
func requestID(given string) string {
	if given != "" && len(given) <= maxRequestIDLen && safeID(given) {
		return given
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// setRequestID gives ex the request id of r and puts it on ex's response,
// whatever writes it: one id follows a request through client reports,
// gateway logs and upstream logs, refusals included.
func (ex *exchange) setRequestID(r *http.Request) {
	ex.id = requestID(r.Header.Get(RequestIDHeader))
	ex.idHeader[0] = ex.id
	ex.rec.Header()[RequestIDHeader] = ex.idHeader[:]
}

func safeID(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
