package jwks

import "time"

// SetClock replaces k's clock (timestamps and the unknown-kid rate limit) so
// that tests can step over MinRefreshInterval without sleeping. Call it before
// k is used.
func SetClock(k *KeySet, now func() time.Time) { k.now = now }
