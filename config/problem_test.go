package config_test

import (
	"testing"

	"github.com/portcullis/portcullis/config"
)

// Codes are for programs to switch on, so their values are part of the
// interface: this list changes only by growing.
func TestProblemCodesAreStable(t *testing.T) {
	want := map[config.Code]string{
		config.CodeUnreadable:         "unreadable",
		config.CodeTooLarge:           "too_large",
		config.CodeSyntax:             "syntax",
		config.CodeEmptyFile:          "empty_file",
		config.CodeMultipleDocuments:  "multiple_documents",
		config.CodeAliasExpansion:     "alias_expansion",
		config.CodeBadMerge:           "bad_merge",
		config.CodeUnknownKey:         "unknown_key",
		config.CodeDuplicateKey:       "duplicate_key",
		config.CodeWrongType:          "wrong_type",
		config.CodeRequired:           "required",
		config.CodeEmpty:              "empty",
		config.CodeOutOfRange:         "out_of_range",
		config.CodeBadDuration:        "bad_duration",
		config.CodeUnknownValue:       "unknown_value",
		config.CodeDuplicate:          "duplicate",
		config.CodeConflict:           "conflict",
		config.CodeIgnored:            "ignored",
		config.CodeReserved:           "reserved",
		config.CodeInvalid:            "invalid",
		config.CodeBadName:            "bad_name",
		config.CodeBadAddress:         "bad_address",
		config.CodeBadURL:             "bad_url",
		config.CodeBadPath:            "bad_path",
		config.CodeBadHost:            "bad_host",
		config.CodeBadMethod:          "bad_method",
		config.CodeBadScope:           "bad_scope",
		config.CodeBadHeader:          "bad_header",
		config.CodeBadOrigin:          "bad_origin",
		config.CodeBadClaimPath:       "bad_claim_path",
		config.CodeRefusedAlgorithm:   "refused_algorithm",
		config.CodeRefusedMethod:      "refused_method",
		config.CodeListenerOverlap:    "listener_overlap",
		config.CodeNoKeySource:        "no_key_source",
		config.CodeNoIssuers:          "no_issuers",
		config.CodeUnknownIssuer:      "unknown_issuer",
		config.CodePlainHTTP:          "plain_http",
		config.CodeAudienceNotChecked: "audience_not_checked",
		config.CodeExpNotRequired:     "exp_not_required",
		config.CodeShadowedRoute:      "shadowed_route",
		config.CodeInsecureTLS:        "insecure_tls",
		config.CodeTrustsEveryone:     "trusts_everyone",
	}
	for code, s := range want {
		if string(code) != s {
			t.Errorf("code %q was %q: a code is never renamed", code, s)
		}
	}
}
