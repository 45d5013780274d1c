package main

import (
	"context"
	"errors"
	"io"
)

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not yet")
}
