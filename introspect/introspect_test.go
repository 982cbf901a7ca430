package introspect_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/token/tokentest"
)

const (
	// opaque is a token as an authorization server mints them.
	opaque   = "2YotnFZFEjr1zCsicMWpAA.opaque-access-token.0123456789abcdef"
	clientID = "portcullis gateway"
	// secret has the characters RFC 6749 §2.3.1's encoding exists for.
	secret = "s3cr:t%25val+ue/ü"
)

// idp is an authorization server's introspection endpoint on loopback that
// counts the calls it answers and records the last one.
type idp struct {
	*httptest.Server
	calls  atomic.Int64
	handle http.HandlerFunc

	mu     sync.Mutex
	header http.Header
	form   url.Values
}

func newIDP(t *testing.T, handle http.HandlerFunc) *idp {
	t.Helper()
	s := &idp{handle: handle}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			_ = r.ParseForm()
		}
		s.mu.Lock()
		s.header, s.form = r.Header.Clone(), r.PostForm
		s.mu.Unlock()
		s.handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *idp) endpoint() string { return s.URL + "/introspect" }

func (s *idp) last() (http.Header, url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.form
}

// answer serves a fixed JSON answer.
func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

func activeUntil(exp time.Time) string {
	return fmt.Sprintf(`{"active":true,"scope":"read","sub":"alice","exp":%d}`, exp.Unix())
}

// clock is a test's time, moved only by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func options(endpoint string) introspect.Options {
	return introspect.Options{
		Issuer:   "idp",
		Endpoint: endpoint,
		ClientID: clientID,
		Method:   introspect.ClientSecretBasic,
		Secret:   secret,
		Timeout:  2 * time.Second,
	}
}

func mustNew(t testing.TB, o introspect.Options) *introspect.Client {
	t.Helper()
	c, err := introspect.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestAnActiveAnswerKeepsEveryMemberAsClaims(t *testing.T) {
	const body = `{
		"active": true, "scope": "read write", "client_id": "app", "username": "alice",
		"token_type": "Bearer", "exp": 1900000000, "iat": 1700000000, "nbf": 1700000000,
		"sub": "Z5O3upPC88QrAjx00dis", "aud": ["https://api.example"], "iss": "https://idp.example",
		"jti": "abc", "ext_ratio": 0.25, "ext_org": {"id": 12345678901234567, "tags": ["a"]}
	}`
	s := newIDP(t, answer(body))
	c := mustNew(t, options(s.endpoint()))

	r, err := c.Introspect(context.Background(), opaque)
	if err != nil {
		t.Fatalf("Introspect: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var want map[string]any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if !r.Active {
		t.Error("Active = false, want true")
	}
	if !reflect.DeepEqual(r.Claims, want) {
		t.Errorf("Claims = %#v\nwant %#v", r.Claims, want)
	}
	if got := r.Claims["exp"]; got != json.Number("1900000000") {
		t.Errorf("exp = %#v, want json.Number", got)
	}
	if !r.Expiry.Equal(time.Unix(1900000000, 0)) {
		t.Errorf("Expiry = %v, want %v", r.Expiry, time.Unix(1900000000, 0))
	}

	_, form := s.last()
	if form.Get("token") != opaque || form.Get("token_type_hint") != "access_token" {
		t.Errorf("form = %v, want the token with token_type_hint=access_token", form)
	}
	if h, _ := s.last(); h.Get("Accept") != "application/json" {
		t.Errorf("Accept = %q, want application/json", h.Get("Accept"))
	}
}

func TestAnInactiveAnswerCarriesNoClaims(t *testing.T) {
	s := newIDP(t, answer(`{"active":false,"sub":"mallory","scope":"admin"}`))
	c := mustNew(t, options(s.endpoint()))
	r, err := c.Introspect(context.Background(), opaque)
	if err != nil {
		t.Fatalf("Introspect: %v", err)
	}
	if r.Active || r.Claims != nil || !r.Expiry.IsZero() {
		t.Errorf("Introspect = %+v, want the zero Response", r)
	}
}

func TestClientAuthentication(t *testing.T) {
	rsa := tokentest.RSA("rsa-1", 2048)
	ec := tokentest.EC("ec-1", jwa.ES256)
	ed := tokentest.Ed25519("ed-1")

	// assertion checks a private_key_jwt call with key's public half.
	assertion := func(key *tokentest.Key) func(t *testing.T, s *idp, h http.Header, form url.Values) {
		return func(t *testing.T, s *idp, h http.Header, form url.Values) {
			if h.Get("Authorization") != "" || form.Has("client_secret") {
				t.Errorf("a secret was sent along with the assertion: %v %v", h, form)
			}
			if form.Get("client_id") != clientID {
				t.Errorf("client_id = %q, want %q", form.Get("client_id"), clientID)
			}
			if got := form.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				t.Errorf("client_assertion_type = %q", got)
			}
			tok, err := jwt.Parse([]byte(form.Get("client_assertion")),
				jwt.WithKey(key.Alg, key.Public),
				jwt.WithValidate(true),
				jwt.WithIssuer(clientID),
				jwt.WithSubject(clientID),
				jwt.WithAudience(s.endpoint()))
			if err != nil {
				t.Fatalf("the assertion does not verify with the client's public key: %v", err)
			}
			if tok.JwtID() == "" {
				t.Error("the assertion has no jti")
			}
			if life := tok.Expiration().Sub(tok.IssuedAt()); life != time.Minute {
				t.Errorf("exp - iat = %v, want 1m", life)
			}
		}
	}
	tests := []struct {
		name  string
		opts  func(o *introspect.Options)
		check func(t *testing.T, s *idp, h http.Header, form url.Values)
	}{
		{
			name: "client_secret_basic sends id and secret form-urlencoded, then in Basic",
			opts: func(o *introspect.Options) { o.Method = introspect.ClientSecretBasic },
			check: func(t *testing.T, _ *idp, h http.Header, form url.Values) {
				r := &http.Request{Header: h}
				user, pass, ok := r.BasicAuth()
				if !ok {
					t.Fatalf("no Basic credentials in %q", h.Get("Authorization"))
				}
				if pass != url.QueryEscape(secret) {
					t.Errorf("password %q was not form-urlencoded (want %q)", pass, url.QueryEscape(secret))
				}
				u, err1 := url.QueryUnescape(user)
				p, err2 := url.QueryUnescape(pass)
				if err1 != nil || err2 != nil || u != clientID || p != secret {
					t.Errorf("Basic decodes to %q:%q, want %q:%q", u, p, clientID, secret)
				}
				if form.Has("client_secret") || form.Has("client_id") {
					t.Errorf("credentials also in the form: %v", form)
				}
			},
		},
		{
			name: "client_secret_post sends client_id and client_secret in the form",
			opts: func(o *introspect.Options) { o.Method = introspect.ClientSecretPost },
			check: func(t *testing.T, _ *idp, h http.Header, form url.Values) {
				if form.Get("client_id") != clientID || form.Get("client_secret") != secret {
					t.Errorf("form credentials = %q, %q", form.Get("client_id"), form.Get("client_secret"))
				}
				if h.Get("Authorization") != "" {
					t.Errorf("Authorization = %q, want none", h.Get("Authorization"))
				}
			},
		},
		{
			name: "private_key_jwt signs an RS256 assertion the server verifies",
			opts: func(o *introspect.Options) {
				o.Method, o.Secret, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, "", rsa.Private, jwa.RS256
			},
			check: assertion(rsa),
		},
		{
			name: "private_key_jwt signs a PS256 assertion with the same RSA key",
			opts: func(o *introspect.Options) {
				o.Method, o.Secret, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, "", rsa.Private, jwa.PS256
			},
			check: assertion(rsa.WithAlg(jwa.PS256)),
		},
		{
			name: "private_key_jwt signs an ES256 assertion the server verifies",
			opts: func(o *introspect.Options) {
				o.Method, o.Secret, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, "", ec.Private, jwa.ES256
			},
			check: assertion(ec),
		},
		{
			name: "private_key_jwt signs an EdDSA assertion the server verifies",
			opts: func(o *introspect.Options) {
				o.Method, o.Secret, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, "", ed.Private, jwa.EdDSA
			},
			check: assertion(ed),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDP(t, answer(`{"active":true}`))
			o := options(s.endpoint())
			tt.opts(&o)
			c := mustNew(t, o)
			if r, err := c.Introspect(context.Background(), opaque); err != nil || !r.Active {
				t.Fatalf("Introspect = %+v, %v", r, err)
			}
			h, form := s.last()
			if form.Get("token") != opaque {
				t.Errorf("token = %q, want %q", form.Get("token"), opaque)
			}
			tt.check(t, s, h, form)
		})
	}
}

func TestEveryAssertionHasItsOwnJTI(t *testing.T) {
	key := tokentest.EC("ec-1", jwa.ES256)
	s := newIDP(t, answer(`{"active":true}`))
	o := options(s.endpoint())
	o.Method, o.Secret, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, "", key.Private, jwa.ES256
	o.MaxEntries = -1
	c := mustNew(t, o)
	seen := map[string]bool{}
	for range 3 {
		if _, err := c.Introspect(context.Background(), opaque); err != nil {
			t.Fatal(err)
		}
		_, form := s.last()
		tok, err := jwt.Parse([]byte(form.Get("client_assertion")), jwt.WithKey(key.Alg, key.Public))
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok.JwtID()] {
			t.Errorf("jti %q used twice", tok.JwtID())
		}
		seen[tok.JwtID()] = true
	}
}

func TestCache(t *testing.T) {
	type step struct {
		advance   time.Duration
		wantCalls int64
	}
	tests := []struct {
		name   string
		answer func(now time.Time) string
		opts   func(o *introspect.Options)
		steps  []step
	}{
		{
			name:   "an active answer is not asked again within CacheTTL",
			answer: func(now time.Time) string { return activeUntil(now.Add(time.Hour)) },
			steps:  []step{{0, 1}, {0, 1}, {59 * time.Second, 1}},
		},
		{
			name:   "an active answer is forgotten after CacheTTL",
			answer: func(now time.Time) string { return activeUntil(now.Add(time.Hour)) },
			opts:   func(o *introspect.Options) { o.CacheTTL = 10 * time.Second },
			steps:  []step{{0, 1}, {9 * time.Second, 1}, {time.Second, 2}, {0, 2}},
		},
		{
			name:   "an active answer is never remembered past its exp",
			answer: func(now time.Time) string { return activeUntil(now.Add(3 * time.Second)) },
			steps:  []step{{0, 1}, {2 * time.Second, 1}, {time.Second, 2}},
		},
		{
			name:   "an active answer whose exp has passed is returned but not remembered",
			answer: func(now time.Time) string { return activeUntil(now.Add(-time.Second)) },
			steps:  []step{{0, 1}, {0, 2}},
		},
		{
			name:   "an active answer without exp is remembered for CacheTTL",
			answer: func(time.Time) string { return `{"active":true}` },
			steps:  []step{{0, 1}, {59 * time.Second, 1}, {time.Second, 2}},
		},
		{
			name:   "an inactive answer is remembered for NegativeTTL only",
			answer: func(time.Time) string { return `{"active":false}` },
			steps:  []step{{0, 1}, {4 * time.Second, 1}, {time.Second, 2}},
		},
		{
			name:   "a negative NegativeTTL remembers no inactive answer",
			answer: func(time.Time) string { return `{"active":false}` },
			opts:   func(o *introspect.Options) { o.NegativeTTL = -1 },
			steps:  []step{{0, 1}, {0, 2}},
		},
		{
			name:   "a negative MaxEntries turns the cache off",
			answer: func(now time.Time) string { return activeUntil(now.Add(time.Hour)) },
			opts:   func(o *introspect.Options) { o.MaxEntries = -1 },
			steps:  []step{{0, 1}, {0, 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := newIDP(t, func(w http.ResponseWriter, r *http.Request) { answer(tt.answer(clk.Now()))(w, r) })
			o := options(s.endpoint())
			o.Now = clk.Now
			if tt.opts != nil {
				tt.opts(&o)
			}
			c := mustNew(t, o)
			for i, st := range tt.steps {
				clk.Advance(st.advance)
				if _, err := c.Introspect(context.Background(), opaque); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := s.calls.Load(); got != st.wantCalls {
					t.Fatalf("step %d (after %v more): %d calls, want %d", i, st.advance, got, st.wantCalls)
				}
			}
		})
	}
}

func TestAnErrorIsNeverRemembered(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		answer(`{"active":true}`)(w, r)
	})
	c := mustNew(t, options(s.endpoint()))
	if _, err := c.Introspect(context.Background(), opaque); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("first call: err = %v, want ErrUnavailable", err)
	}
	failing.Store(false)
	r, err := c.Introspect(context.Background(), opaque)
	if err != nil || !r.Active {
		t.Fatalf("second call = %+v, %v; want active", r, err)
	}
	if got := s.calls.Load(); got != 2 {
		t.Errorf("%d calls, want 2: the error was remembered", got)
	}
}

func TestConcurrentRequestsForOneTokenShareOneCall(t *testing.T) {
	const requests = 100
	var c *introspect.Client
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		// Answer only once every request waits, so that any request that
		// asked on its own would be counted.
		deadline := time.Now().Add(5 * time.Second)
		for c.Waiting(opaque) < requests && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		answer(`{"active":true}`)(w, r)
	})
	c = mustNew(t, options(s.endpoint()))

	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for range requests {
		wg.Go(func() {
			r, err := c.Introspect(context.Background(), opaque)
			if err == nil && !r.Active {
				err = errors.New("not active")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.calls.Load(); got != 1 {
		t.Errorf("%d calls for %d concurrent requests, want 1", got, requests)
	}
}

func TestARequestThatGivesUpDoesNotCancelTheSharedCall(t *testing.T) {
	release := make(chan struct{})
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		answer(`{"active":true}`)(w, r)
	})
	c := mustNew(t, options(s.endpoint()))

	impatient, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.Introspect(impatient, opaque)
		gaveUp <- err
	}()
	patient := make(chan error, 1)
	waitFor(t, func() bool { return c.Waiting(opaque) == 1 })
	go func() {
		r, err := c.Introspect(context.Background(), opaque)
		if err == nil && !r.Active {
			err = errors.New("not active")
		}
		patient <- err
	}()
	waitFor(t, func() bool { return c.Waiting(opaque) == 2 })

	cancel()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, context.Canceled) || errors.Is(err, introspect.ErrUnavailable) {
			t.Errorf("the impatient request: err = %v, want context.Canceled and not ErrUnavailable", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the impatient request kept waiting after its context ended")
	}
	close(release)
	if err := <-patient; err != nil {
		t.Fatalf("the patient request: %v", err)
	}
	if _, err := c.Introspect(context.Background(), opaque); err != nil {
		t.Fatal(err)
	}
	if got := s.calls.Load(); got != 1 {
		t.Errorf("%d calls, want 1: the shared call was cancelled or its answer not cached", got)
	}
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFailuresAreUnavailableAndNeverQuoteTheTokenOrSecret(t *testing.T) {
	big := `{"active":true,"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name      string
		handle    http.HandlerFunc // nil: the endpoint is down
		elsewhere bool             // the test's /elsewhere must not be called
	}{
		{name: "an endpoint that is down"},
		{
			name: "an endpoint slower than Timeout is abandoned at Timeout",
			handle: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				answer(`{"active":true}`)(w, r)
			},
		},
		{
			name: "a 500 that echoes the request, credentials and all",
			handle: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, "bad request %s %s %s", r.Header.Get("Authorization"), r.PostForm.Encode(), opaque)
			},
		},
		{
			name: "a 400 that echoes the start of the token",
			handle: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, "invalid_token: "+opaque[:20]+"...")
			},
		},
		{
			name: "a 401 that echoes the secret it was sent, decoded",
			handle: func(w http.ResponseWriter, r *http.Request) {
				got := r.PostForm.Get("client_secret")
				if _, p, ok := r.BasicAuth(); ok {
					got, _ = url.QueryUnescape(p)
				}
				http.Error(w, "wrong secret "+got, http.StatusUnauthorized)
			},
		},
		{name: "a 203 is not a 200, whatever its body", handle: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNonAuthoritativeInfo)
			io.WriteString(w, `{"active":true}`)
		}},
		{name: "a 401", handle: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "invalid_client", http.StatusUnauthorized) }},
		{name: "an HTML page", handle: answer("<html><body>Welcome to nginx!</body></html>")},
		{name: `an "active" that is the string "true"`, handle: answer(`{"active":"true"}`)},
		{name: `an "active" that is the string "false"`, handle: answer(`{"active":"false"}`)},
		{name: `an "active" that is 1`, handle: answer(`{"active":1}`)},
		{name: `an "active" that is null`, handle: answer(`{"active":null}`)},
		{name: `an answer without "active"`, handle: answer(`{"scope":"read","sub":"alice"}`)},
		{name: "a JSON array", handle: answer(`[{"active":true}]`)},
		{name: "JSON null", handle: answer(`null`)},
		{name: "an empty body", handle: answer(``)},
		{name: "trailing data after the object", handle: answer(`{"active":true} {"active":false}`)},
		{name: "a number beyond float64", handle: answer(`{"active":true,"n":1e400}`)},
		{name: "an exp that is not a number", handle: answer(`{"active":true,"exp":"tomorrow"}`)},
		{
			name: "an answer over 64 KiB with its length declared",
			handle: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				io.WriteString(w, big)
			},
		},
		{
			name: "an answer over 64 KiB streamed without a length",
			handle: func(w http.ResponseWriter, _ *http.Request) {
				w.(http.Flusher).Flush()
				io.WriteString(w, big)
			},
		},
		{
			name: "a redirect is not followed",
			handle: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			},
			elsewhere: true,
		},
	}
	for _, method := range []introspect.Method{introspect.ClientSecretBasic, introspect.ClientSecretPost} {
		for _, tt := range tests {
			t.Run(string(method)+"/"+tt.name, func(t *testing.T) {
				var elsewhere atomic.Int64
				handle := tt.handle
				s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/elsewhere" {
						elsewhere.Add(1)
						answer(`{"active":true}`)(w, r)
						return
					}
					handle(w, r)
				})
				if handle == nil {
					s.Close()
				}
				o := options(s.endpoint())
				o.Method = method
				o.Timeout = 300 * time.Millisecond
				m := metrics.NewIntrospection()
				o.Metrics = m
				c := mustNew(t, o)

				start := time.Now()
				r, err := c.Introspect(context.Background(), opaque)
				took := time.Since(start)
				if !errors.Is(err, introspect.ErrUnavailable) {
					t.Fatalf("Introspect = %+v, %v; want ErrUnavailable", r, err)
				}
				if r.Active || r.Claims != nil {
					t.Errorf("a failure answered %+v", r)
				}
				if took > o.Timeout+time.Second {
					t.Errorf("took %v, more than Timeout (%v) and a second", took, o.Timeout)
				}
				if tt.elsewhere && elsewhere.Load() != 0 {
					t.Error("the redirect was followed")
				}
				assertNoSecrets(t, err.Error())
				if got := testutil.ToFloat64(m.Requests.WithLabelValues("idp", metrics.IntrospectionError)); got != 1 {
					t.Errorf("error count = %v, want 1", got)
				}
				t.Logf("%v", err)
			})
		}
	}
}

// assertNoSecrets fails when text holds the token, the secret, or the
// secret in any form the request carries it.
func assertNoSecrets(t *testing.T, text string) {
	t.Helper()
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID) + ":" + url.QueryEscape(secret)))
	for _, s := range []string{opaque, opaque[:16], secret, secret[:len(secret)-2], url.QueryEscape(secret), basic, basic[:16]} {
		if strings.Contains(text, s) {
			t.Errorf("%q holds %q", text, s)
		}
	}
}

func TestARedirectIsNotFollowedEvenWithTheCallersClient(t *testing.T) {
	var elsewhere atomic.Int64
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			elsewhere.Add(1)
			answer(`{"active":true}`)(w, r)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusPermanentRedirect)
	})
	o := options(s.endpoint())
	o.Client = &http.Client{} // follows redirects by default
	c := mustNew(t, o)
	if _, err := c.Introspect(context.Background(), opaque); !errors.Is(err, introspect.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed")
	}
	if o.Client.CheckRedirect != nil {
		t.Error("New changed the caller's client")
	}
}

func TestTokensNotWorthAskingAbout(t *testing.T) {
	s := newIDP(t, answer(`{"active":true}`))
	c := mustNew(t, options(s.endpoint()))
	for _, tok := range []string{"", strings.Repeat("A", introspect.MaxLength+1)} {
		if _, err := c.Introspect(context.Background(), tok); !errors.Is(err, introspect.ErrMalformed) {
			t.Errorf("token of %d bytes: err = %v, want ErrMalformed", len(tok), err)
		}
	}
	if s.calls.Load() != 0 {
		t.Errorf("%d calls, want none", s.calls.Load())
	}
}

func TestAFloodOfTokensStaysWithinMaxEntries(t *testing.T) {
	const maxEntries, tokens, workers = 100, 10000, 8
	s := newIDP(t, answer(`{"active":true}`))
	o := options(s.endpoint())
	o.MaxEntries = maxEntries
	m := metrics.NewIntrospection()
	o.Metrics = m
	c := mustNew(t, o)

	var next, over atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1); i <= tokens; i = next.Add(1) {
				if _, err := c.Introspect(context.Background(), fmt.Sprintf("one-shot-token-%06d", i)); err != nil {
					t.Error(err)
					return
				}
				if n := c.CacheLen(); n > maxEntries {
					over.Store(int64(n))
				}
			}
		})
	}
	wg.Wait()
	if n := over.Load(); n != 0 {
		t.Errorf("the cache held %d entries, more than MaxEntries %d", n, maxEntries)
	}
	if n := c.CacheLen(); n != maxEntries {
		t.Errorf("the cache holds %d entries at the end, want a full %d", n, maxEntries)
	}
	if got := testutil.ToFloat64(m.CacheEntries.WithLabelValues("idp")); got != maxEntries {
		t.Errorf("entries gauge = %v, want %d", got, maxEntries)
	}
	if got := s.calls.Load(); got != tokens {
		t.Errorf("%d calls, want %d", got, tokens)
	}
}

func TestAFullCacheEvicts(t *testing.T) {
	// With three entries the eviction sample sees them all, so which go is
	// certain.
	tests := []struct {
		name    string
		advance time.Duration // after the three are cached
		wantLen int           // after the newcomer is
	}{
		{"every expired answer goes", 20 * time.Second, 2},
		{"else the answer that expires first", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
				ttl := time.Hour
				if strings.HasPrefix(r.PostForm.Get("token"), "short") {
					ttl = 10 * time.Second
				}
				answer(activeUntil(clk.Now().Add(ttl)))(w, r)
			})
			o := options(s.endpoint())
			o.Now, o.MaxEntries = clk.Now, 3
			c := mustNew(t, o)
			ask := func(tok string) {
				t.Helper()
				if _, err := c.Introspect(context.Background(), tok); err != nil {
					t.Fatal(err)
				}
			}
			ask("short-lived-token-a-0123456789")
			ask("short-lived-token-b-0123456789")
			ask("long-lived-token-0123456789")
			clk.Advance(tt.advance)
			ask("newcomer-token-0123456789")
			if n := c.CacheLen(); n != tt.wantLen {
				t.Errorf("the cache holds %d entries, want %d", n, tt.wantLen)
			}
			calls := s.calls.Load()
			ask("long-lived-token-0123456789")
			if s.calls.Load() != calls {
				t.Error("the answer that expires last was evicted")
			}
		})
	}
}

func TestResolve(t *testing.T) {
	s := newIDP(t, answer(`{"active":true}`))
	var resolves atomic.Int64
	answers := []struct {
		endpoint string
		err      error
	}{
		{err: errors.New("discovery is down")},
		{endpoint: "ftp://" + strings.TrimPrefix(s.URL, "http://") + "/introspect"},
		{endpoint: s.endpoint()},
	}
	o := options("")
	o.Resolve = func(context.Context) (string, error) {
		n := resolves.Add(1)
		a := answers[min(int(n), len(answers))-1]
		return a.endpoint, a.err
	}
	o.MaxEntries = -1
	c := mustNew(t, o)

	for i, want := range []struct {
		resolves, calls int64
		ok              bool
	}{
		{resolves: 1, calls: 0, ok: false}, // Resolve failed: retried next time
		{resolves: 2, calls: 0, ok: false}, // it answered a scheme that is not http(s)
		{resolves: 3, calls: 1, ok: true},  // it answered the endpoint: kept
		{resolves: 3, calls: 2, ok: true},
		{resolves: 3, calls: 3, ok: true},
	} {
		_, err := c.Introspect(context.Background(), opaque)
		if (err == nil) != want.ok || (err != nil && !errors.Is(err, introspect.ErrUnavailable)) {
			t.Errorf("call %d: err = %v, want ok=%v", i, err, want.ok)
		}
		if got := resolves.Load(); got != want.resolves {
			t.Errorf("call %d: %d resolves, want %d", i, got, want.resolves)
		}
		if got := s.calls.Load(); got != want.calls {
			t.Errorf("call %d: %d calls, want %d", i, got, want.calls)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	rsa := tokentest.RSA("rsa-1", 2048)
	hmac, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts func(o *introspect.Options)
		want string // in the error
	}{
		{"an issuer without a name", func(o *introspect.Options) { o.Issuer = "" }, "issuer name"},
		{"no endpoint and nothing to resolve it", func(o *introspect.Options) { o.Endpoint = "" }, "endpoint"},
		{"an endpoint that is not http(s)", func(o *introspect.Options) { o.Endpoint = "file:///etc/passwd" }, "scheme"},
		{"an endpoint without a host", func(o *introspect.Options) { o.Endpoint = "https:///introspect" }, "no host"},
		{"an endpoint that is not a URL", func(o *introspect.Options) { o.Endpoint = "http://[::1" }, "not a valid URL"},
		{"no client_id", func(o *introspect.Options) { o.ClientID = "" }, "client_id"},
		{"an unknown method", func(o *introspect.Options) { o.Method = "client_secret_jwt" }, "unknown client authentication"},
		{"client_secret_basic without a secret", func(o *introspect.Options) { o.Secret = "" }, "needs a client secret"},
		{"client_secret_post without a secret", func(o *introspect.Options) { o.Method, o.Secret = introspect.ClientSecretPost, "" }, "needs a client secret"},
		{"private_key_jwt without a key", func(o *introspect.Options) { o.Method, o.KeyAlg = introspect.PrivateKeyJWT, jwa.RS256 }, "private key is required"},
		{"private_key_jwt with a public key", func(o *introspect.Options) {
			o.Method, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, rsa.Public, jwa.RS256
		}, "not an RSA, EC or OKP private key"},
		{"private_key_jwt with a symmetric key", func(o *introspect.Options) {
			o.Method, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, hmac, jwa.HS256
		}, "not an RSA, EC or OKP private key"},
		{"private_key_jwt with HS256", func(o *introspect.Options) {
			o.Method, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, rsa.Private, jwa.HS256
		}, "not an asymmetric"},
		{"private_key_jwt with none", func(o *introspect.Options) {
			o.Method, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, rsa.Private, jwa.NoSignature
		}, "not an asymmetric"},
		{"private_key_jwt with an algorithm the key cannot sign with", func(o *introspect.Options) {
			o.Method, o.Key, o.KeyAlg = introspect.PrivateKeyJWT, rsa.Private, jwa.ES256
		}, "cannot sign with ES256"},
		{"a negative timeout", func(o *introspect.Options) { o.Timeout = -time.Second }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options("https://idp.example/introspect")
			tt.opts(&o)
			_, err := introspect.New(o)
			if err == nil {
				t.Fatal("New accepted the options")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to say %q", err, tt.want)
			}
			assertNoSecrets(t, err.Error())
		})
	}
}

func TestMetrics(t *testing.T) {
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		switch r.PostForm.Get("token") {
		case "good-token-0123456789":
			answer(`{"active":true}`)(w, r)
		case "revoked-token-0123456789":
			answer(`{"active":false}`)(w, r)
		default:
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	m := metrics.NewIntrospection()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	o := options(s.endpoint())
	o.Metrics = m
	c := mustNew(t, o)

	// A configured issuer shows its failure series before the first failure.
	const zero = `
# HELP portcullis_introspection_requests_total Calls to the issuer's introspection endpoint, by issuer and result (active, inactive, error), and calls not made for want of a free max_concurrent slot (overloaded).
# TYPE portcullis_introspection_requests_total counter
portcullis_introspection_requests_total{issuer="idp",result="active"} 0
portcullis_introspection_requests_total{issuer="idp",result="error"} 0
portcullis_introspection_requests_total{issuer="idp",result="inactive"} 0
portcullis_introspection_requests_total{issuer="idp",result="overloaded"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(zero), "portcullis_introspection_requests_total"); err != nil {
		t.Error(err)
	}

	for _, tok := range []string{"good-token-0123456789", "good-token-0123456789", "revoked-token-0123456789", "broken-token-0123456789"} {
		_, _ = c.Introspect(context.Background(), tok)
	}
	for _, tt := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"active calls", m.Requests.WithLabelValues("idp", "active"), 1},
		{"inactive calls", m.Requests.WithLabelValues("idp", "inactive"), 1},
		{"failed calls", m.Requests.WithLabelValues("idp", "error"), 1},
		{"cache hits", m.CacheHits.WithLabelValues("idp"), 1},
		{"cache misses", m.CacheMisses.WithLabelValues("idp"), 3},
		{"cache entries (the error is not one)", m.CacheEntries.WithLabelValues("idp"), 2},
	} {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if n := testutil.CollectAndCount(m.Duration); n != 1 {
		t.Errorf("%d duration series, want 1", n)
	}
	if n := histogramCount(t, reg); n != 3 {
		t.Errorf("durations observed = %d, want 3 (one per call)", n)
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "portcullis_introspection_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no duration histogram")
	return 0
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *metrics.Introspection
	s := m.Issuer("idp")
	s.Called(metrics.IntrospectionActive, time.Second)
	s.CacheHit()
	s.CacheMiss()
	s.CacheEntries(3)
}

func TestACacheHitAllocatesNothing(t *testing.T) {
	s := newIDP(t, answer(`{"active":true}`))
	o := options(s.endpoint())
	o.Metrics = metrics.NewIntrospection()
	c := mustNew(t, o)
	ctx := context.Background()
	if _, err := c.Introspect(ctx, opaque); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if r, err := c.Introspect(ctx, opaque); err != nil || !r.Active {
			t.Fatal("not a hit")
		}
	})
	if allocs != 0 {
		t.Errorf("a cache hit allocates %v times, want 0", allocs)
	}
}

func BenchmarkIntrospectCacheHit(b *testing.B) {
	s := httptest.NewServer(answer(`{"active":true}`))
	defer s.Close()
	o := options(s.URL)
	o.Metrics = metrics.NewIntrospection()
	c := mustNew(b, o)
	ctx := context.Background()
	if _, err := c.Introspect(ctx, opaque); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Introspect(ctx, opaque); err != nil {
				b.Fatal(err)
			}
		}
	})
}
