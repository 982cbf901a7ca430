package providers_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// profiles maps every example configuration to the test that sends its
// provider's tokens through it. An example without a test here fails
// TestEveryExampleHasAProviderTest, so that no file users copy goes
// unexercised.
var profiles = map[string]string{
	"auth0.yaml":         "TestAuth0DefaultProfile",
	"auth0-rfc9068.yaml": "TestAuth0RFC9068Profile",
	"cognito.yaml":       "TestCognito",
	"entra-id.yaml":      "TestEntraID",
	"google.yaml":        "TestGoogle",
	"hydra.yaml":         "TestHydraShapes",
	"keycloak.yaml":      "TestKeycloak",
	"okta.yaml":          "TestOkta",
}

func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no examples in %s", examplesDir)
	}
	return files
}

// Every example loads as `portcullis validate` loads it, with no problem
// and no warning: a user who copies one starts from a clean file.
func TestExamplesValidateWithoutWarnings(t *testing.T) {
	for _, path := range examples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatalf("does not load:\n%v", err)
			}
			if len(cfg.Warnings) > 0 {
				t.Errorf("warnings:\n%v", cfg.Warnings)
			}
			for _, r := range cfg.Routes {
				if r.Auth.Mode != config.ModeRequired || len(r.Auth.Issuers) == 0 {
					t.Errorf("route %s: examples require a token from a named issuer on every route (mode %s, issuers %v)",
						r.Name, r.Auth.Mode, r.Auth.Issuers)
				}
			}
		})
	}
}

func TestEveryExampleHasAProviderTest(t *testing.T) {
	var names []string
	for _, path := range examples(t) {
		name := filepath.Base(path)
		names = append(names, name)
		if _, ok := profiles[name]; !ok {
			t.Errorf("examples/%s has no provider test: add one and list it in profiles", name)
		}
	}
	for name := range profiles {
		if !slices.Contains(names, name) {
			t.Errorf("profiles lists %s, which is not in examples/", name)
		}
	}
}
