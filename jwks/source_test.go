package jwks_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/jwks"
)

// TestSourceSameComparesEveryField: a reload keeps a key set only for a
// source that is the same in every field; each field is changed in turn.
func TestSourceSameComparesEveryField(t *testing.T) {
	base := jwks.Source{
		Issuer: "corp", IssuerURL: "https://idp.example.com", JWKSURI: "https://idp.example.com/jwks",
		Discovery: true, Algorithms: []string{"RS256"}, RefreshInterval: time.Hour, MinRefreshInterval: time.Minute,
	}
	same := base
	same.Algorithms = []string{"RS256"}
	if !base.Same(same) {
		t.Fatal("equal sources are not the Same")
	}
	typ := reflect.TypeFor[jwks.Source]()
	for i := range typ.NumField() {
		changed := base
		changed.Algorithms = []string{"RS256"}
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Slice:
			f.Set(reflect.Append(f, reflect.ValueOf("ES256")))
		case reflect.Struct:
			// Each field of a nested struct (the Identity) in turn.
			for j := range f.NumField() {
				c := base
				g := reflect.ValueOf(&c).Elem().Field(i).Field(j)
				if g.Kind() != reflect.String {
					t.Fatalf("Source.%s.%s is a %s: extend this test", typ.Field(i).Name, f.Type().Field(j).Name, g.Type())
				}
				g.SetString(g.String() + "x")
				if base.Same(c) {
					t.Errorf("Source.%s.%s changed, and Same still says the sources are the same", typ.Field(i).Name, f.Type().Field(j).Name)
				}
			}
			continue
		default:
			t.Fatalf("Source.%s is a %s: extend this test", typ.Field(i).Name, f.Type())
		}
		if base.Same(changed) {
			t.Errorf("Source.%s changed, and Same still says the sources are the same", typ.Field(i).Name)
		}
	}
}
