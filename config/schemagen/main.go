// Command schemagen writes config.schema.json, the JSON Schema of
// portcullis's configuration file, from the types of package config:
//
//	go run ./config/schemagen > config.schema.json
//
// or `go generate ./config`. config/schema_test.go fails when the
// committed file differs from what this writes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/portcullis/portcullis/config/schemagen/schema"
)

func main() {
	out := flag.String("o", "", "write the schema to this file instead of standard output")
	dir := flag.String("config-dir", defaultConfigDir(), "the directory of package config's source, whose doc comments become the descriptions")
	flag.Parse()

	data, err := schema.Generate(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.Write(data)
	} else {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

// defaultConfigDir is the directory above this file's, which is package
// config's when the command runs from its source (go run); with -trimpath
// it names no directory, and -config-dir must be given.
func defaultConfigDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "config"
	}
	return filepath.Join(filepath.Dir(file), "..")
}
