package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orderpipe/orderpipe/internal/servicetest"
)

// TestTailOverSASLSSL: tail reads through the broker's SASL_SSL listener
// (SCRAM-SHA-512, the listener's CA), reading partitions directly and as a
// consumer group, and prints exactly what was produced; a wrong password
// or CA fails with an error naming the variable (as a group only after
// kafka-go's reader has given up its retries, about 10 s). No password is
// printed.
// (tail reads only Kafka; verify and setup against the secured
// Elasticsearch are in security_test.go.)
func TestTailOverSASLSSL(t *testing.T) {
	k := servicetest.KafkaSASL(t)
	s := newStack(t, 2) // topic made and filled through the open listener
	evs := events(t, 10, 5, 0)
	s.produce(t, s.topic, messages(evs))
	for _, mode := range []string{"partitions", "group"} {
		for _, tc := range k.SASLCases() {
			t.Run(mode+", "+tc.Name, func(t *testing.T) {
				args := []string{"tail", "-from", "earliest", "-max", itoa(len(evs))}
				if mode == "group" {
					args = append(args, "-group", servicetest.Name(t, "tail-sasl"))
				}
				k.SetenvFor(t, tc)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, errOut, err := runCmd(t, ctx, args...)
				if k.AssertRun(t, tc, "tail", out+"\n"+errOut, err) {
					return
				}
				if err != nil || ctx.Err() != nil {
					t.Fatalf("tail: %v (ctx %v)\n%s\n%s", err, ctx.Err(), out, errOut)
				}
				if got, want := printedIDs(t, out), wantIDs(evs, nil); !slices.Equal(got, want) {
					t.Errorf("printed %d events %v\nwant %d %v", len(got), got, len(want), want)
				}
			})
		}
	}
}
