package token

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis/portcullis/introspect"
)

// TestVerifiesAsComparesEveryField: a reload keeps an issuer's token cache
// only when the new settings verify exactly as the old ones. Each field of
// Issuer is changed in turn, and each change must count as a difference;
// a field added to Issuer and not to verifiesAs fails here.
func TestVerifiesAsComparesEveryField(t *testing.T) {
	base := Issuer{
		Name: "corp", Issuer: "https://idp.example.com/", Audiences: []string{"orders"},
		AudienceClaim: "aud", Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second,
		RequiredClaims: []string{"exp"}, TokenTypes: []string{"at+jwt"}, Claims: []string{"sub"},
		Keys: &countingKeys{}, Cache: CacheOptions{MaxEntries: 10, MaxTTL: time.Minute},
		Introspection: &fakeIntrospector{}, Revocation: &fakeList{},
	}
	if !base.verifiesAs(base) {
		t.Fatal("an issuer does not verify as itself")
	}
	copyOf := func(is Issuer) Issuer {
		c := is
		c.Audiences, c.Algorithms = append([]string(nil), is.Audiences...), append([]string(nil), is.Algorithms...)
		c.RequiredClaims, c.TokenTypes = append([]string(nil), is.RequiredClaims...), append([]string(nil), is.TokenTypes...)
		c.Claims = append([]string(nil), is.Claims...)
		return c
	}
	if !base.verifiesAs(copyOf(base)) {
		t.Fatal("an equal copy (other slices, the same key source) does not verify alike")
	}
	typ := reflect.TypeFor[Issuer]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		for _, variant := range fieldVariants(t, reflect.ValueOf(base).Field(i)) {
			changed := copyOf(base)
			reflect.ValueOf(&changed).Elem().Field(i).Set(variant)
			if base.verifiesAs(changed) {
				t.Errorf("Issuer.%s changed to %#v, and verifiesAs still says the issuers verify alike", f.Name, variant.Interface())
			}
		}
	}
	// nil Claims keeps every claim; an empty list keeps none.
	all, none := copyOf(base), copyOf(base)
	all.Claims, none.Claims = nil, []string{}
	if all.verifiesAs(none) {
		t.Error("Claims nil (keep all) and [] (keep none) verify alike")
	}
}

// fieldVariants returns values that differ from v, one per way a field of
// its kind can differ.
func fieldVariants(t *testing.T, v reflect.Value) []reflect.Value {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		return []reflect.Value{reflect.ValueOf(v.String() + "x").Convert(v.Type())}
	case reflect.Int64, reflect.Int:
		return []reflect.Value{reflect.ValueOf(v.Int() + 1).Convert(v.Type())}
	case reflect.Slice:
		longer := reflect.Append(v, reflect.ValueOf("x"))
		other := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			other.Index(i).SetString(v.Index(i).String() + "y")
		}
		return []reflect.Value{longer, other}
	case reflect.Bool:
		return []reflect.Value{reflect.ValueOf(!v.Bool())}
	case reflect.Interface:
		// An equal, but other, source of the same type; and none.
		other := reflect.New(v.Elem().Type().Elem())
		return []reflect.Value{other, reflect.Zero(v.Type())}
	case reflect.Struct:
		var out []reflect.Value
		for i := range v.NumField() {
			for _, fv := range fieldVariants(t, v.Field(i)) {
				c := reflect.New(v.Type()).Elem()
				c.Set(v)
				c.Field(i).Set(fv)
				out = append(out, c)
			}
		}
		return out
	}
	t.Fatalf("fieldVariants: no variants for a %s; extend this test with the new field's kind", v.Type())
	return nil
}

// countingKeys is a key source compared by identity (it has a field, so two
// of them are never the same allocation).
type countingKeys struct{ n int }

func (k *countingKeys) Lookup(context.Context, string) ([]jwk.Key, error) { k.n++; return nil, nil }

type fakeIntrospector struct{ n int }

func (f *fakeIntrospector) Introspect(context.Context, string) (introspect.Response, error) {
	f.n++
	return introspect.Response{}, nil
}

type fakeList struct{ n int }

func (f *fakeList) Ready() bool                                  { return true }
func (f *fakeList) Revoked(string, string, time.Time, bool) bool { f.n++; return false }
