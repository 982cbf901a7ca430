package gateway

import (
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// TestIssuerFieldsAreAllUsed: every setting of an issuer reaches the key set
// (source), the verifier (verification) or the route table, so that a field
// added to config.Issuer cannot be validated and then silently ignored, nor
// change without the reload noticing. Each field is changed in turn; those
// that neither source nor verification reads must be named below with where
// they go instead.
func TestIssuerFieldsAreAllUsed(t *testing.T) {
	elsewhere := map[string]string{
		"ScopeClaims": "policy.Compile reads it (scopes are a route rule, not a verification)",
		"Line":        "messages only",
	}
	base := config.Issuer{
		Name: "corp", Issuer: "https://idp.example.com/", JWKSURI: "https://idp.example.com/jwks",
		Discovery: true, Audiences: []string{"orders"}, AudienceClaim: "aud", Algorithms: []string{"RS256"},
		RefreshInterval: config.Duration(time.Hour), MinRefreshInterval: config.Duration(time.Minute),
		ClockSkew: config.Duration(time.Second), RequiredClaims: []string{"exp"}, TokenTypes: []string{"at+jwt"},
		ScopeClaims: []string{"scope"}, TokenCache: config.TokenCache{MaxEntries: 1, MaxTTL: config.Duration(time.Minute)},
		Line: 3,
	}
	typ := reflect.TypeFor[config.Issuer]()
	for name := range elsewhere {
		if _, ok := typ.FieldByName(name); !ok {
			t.Errorf("elsewhere names %s, which config.Issuer does not have", name)
		}
	}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if _, ok := elsewhere[name]; ok {
			continue
		}
		for _, changed := range issuerVariants(t, base, i) {
			b, c := identity(base), identity(changed)
			if source(base, b).Same(source(changed, c)) && reflect.DeepEqual(verification(base, nil, nil, nil, nil), verification(changed, nil, nil, nil, nil)) &&
				introspectionSourceOf(base, b) == introspectionSourceOf(changed, c) && revocationSource(base, b) == revocationSource(changed, c) {
				t.Errorf("config.Issuer.%s changed, and neither the key set's source, the verifier's issuer, the introspection client's nor the revocation list's source did", name)
			}
		}
	}
}

// issuerVariants returns copies of base with field i changed, one copy per
// nested field of a struct.
func issuerVariants(t *testing.T, base config.Issuer, i int) []config.Issuer {
	t.Helper()
	var out []config.Issuer
	change := func(f reflect.Value, set func()) {
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.ValueOf("x")))
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			for _, k := range f.MapKeys() {
				m.SetMapIndex(k, f.MapIndex(k))
			}
			m.SetMapIndex(reflect.ValueOf("X-Added"), reflect.ValueOf("x"))
			f.Set(m)
		default:
			t.Fatalf("issuerVariants: a %s; extend this test", f.Type())
		}
		set()
	}
	f := reflect.ValueOf(&base).Elem().Field(i)
	if f.Kind() == reflect.Struct {
		for j := range f.NumField() {
			c := base
			change(reflect.ValueOf(&c).Elem().Field(i).Field(j), func() { out = append(out, c) })
		}
		return out
	}
	c := base
	change(reflect.ValueOf(&c).Elem().Field(i), func() { out = append(out, c) })
	return out
}
