package config

//go:generate go run ./schemagen -o ../config.schema.json
