package main

import (
	"log/slog"

	"github.com/exposurekit/exposure"
)

// destinations returns the options for the optional real destinations the
// environment asks for, and a function that releases them.
func destinations(logger *slog.Logger) ([]exposure.Option, func(), error) {
	return nil, func() {}, nil
}
