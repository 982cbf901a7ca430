package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	k := Key("route-a", "alice@example.com")
	if !strings.HasPrefix(k, KeyPrefix) || len(k) != len(KeyPrefix)+22 {
		t.Fatalf("Key = %q, want %q and 22 characters of hash", k, KeyPrefix)
	}
	if strings.Contains(k, "alice") || strings.Contains(k, "route-a") {
		t.Fatalf("Key = %q holds its inputs in clear", k)
	}
	if Key("route-a", "alice@example.com") != k {
		t.Fatal("Key is not stable")
	}
	long := Key(strings.Repeat("n", 1000), strings.Repeat("v", 10000))
	if len(long) != len(k) {
		t.Fatalf("a long input gives a key of %d bytes, want %d", len(long), len(k))
	}
	distinct := map[string]bool{}
	for _, in := range [][2]string{
		{"route-a", "alice"}, {"route-b", "alice"}, {"route-a", "bob"},
		{"a", "bc"}, {"ab", "c"}, {"", "abc"}, {"abc", ""},
	} {
		k := Key(in[0], in[1])
		if distinct[k] {
			t.Fatalf("Key(%q, %q) collides with another", in[0], in[1])
		}
		distinct[k] = true
	}
}

func TestLimitValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit Limit
		field string // "" when valid
	}{
		{"ten per second, burst five, is valid", Limit{Count: 10, Period: time.Second, Burst: 5}, ""},
		{"one per day is valid", Limit{Count: 1, Period: 24 * time.Hour, Burst: 1}, ""},
		{"a million per second is valid", Limit{Count: 1_000_000, Period: time.Second, Burst: 1}, ""},
		{"count 0 is refused", Limit{Count: 0, Period: time.Second, Burst: 1}, "count"},
		{"a negative period is refused", Limit{Count: 1, Period: -time.Second, Burst: 1}, "period"},
		{"burst 0 is refused", Limit{Count: 1, Period: time.Second, Burst: 0}, "burst"},
		{"more than one per microsecond is refused", Limit{Count: 2_000_000, Period: time.Second, Burst: 1}, "microsecond"},
		{"a burst spanning centuries is refused", Limit{Count: 1, Period: 24 * time.Hour, Burst: 1_000_000}, "spans"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limit.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidLimit) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want ErrInvalidLimit naming %q", err, tc.field)
			}
		})
	}
}

func TestTightest(t *testing.T) {
	got := Tightest([]Result{
		{Allowed: true, Remaining: 5, Reset: time.Second},
		{Allowed: false, RetryAfter: 3 * time.Second, Reset: 4 * time.Second},
		{Allowed: false, RetryAfter: time.Second, Reset: 2 * time.Second},
	})
	want := Result{Allowed: false, Remaining: 0, RetryAfter: 3 * time.Second, Reset: 4 * time.Second}
	if got != want {
		t.Fatalf("Tightest = %+v, want %+v", got, want)
	}
	if got := Tightest(nil); got != (Result{}) {
		t.Fatalf("Tightest(nil) = %+v", got)
	}
}
