package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// TestStaticBuild checks what the Dockerfile's final stage relies on: with
// CGO_ENABLED=0 the binary has no ELF interpreter and needs no shared
// library, so it runs in an image without libc.
func TestStaticBuild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF check is for linux")
	}
	out := filepath.Join(t.TempDir(), "portcullis")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries: %v", libs)
	}
}

// TestDockerfile keeps the Dockerfile's promises that can be checked
// without a Docker engine: multi-stage, static build, non-root user.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for what, re := range map[string]string{
		"a build stage":             `(?m)^FROM golang:\S+ AS build$`,
		"a static build":            `CGO_ENABLED=0 GOOS=linux go build`,
		"a minimal final stage":     `(?m)^FROM gcr.io/distroless/static\S*$`,
		"a non-root user":           `(?m)^USER 65532:65532$`,
		"the binary from the build": `(?m)^COPY --from=build /out/portcullis `,
		"serve as the default":      `(?m)^CMD \["serve", "-config", `,
	} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("Dockerfile lacks %s (%s)", what, re)
		}
	}
}
