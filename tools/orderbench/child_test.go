package main

import "testing"

func TestMetricSum(t *testing.T) {
	text := []byte(`# HELP orderpipe_consumer_consumed_total Messages.
# TYPE orderpipe_consumer_consumed_total counter
orderpipe_consumer_consumed_total 1234
orderpipe_consumer_consumed_total_other 5
orderpipe_consumer_lag{partition="0"} 3
orderpipe_consumer_lag{partition="1"} 4.5
`)
	if v, err := metricSum(text, "orderpipe_consumer_consumed_total"); err != nil || v != 1234 {
		t.Errorf("consumed = %v, %v", v, err)
	}
	if v, err := metricSum(text, "orderpipe_consumer_lag"); err != nil || v != 7.5 {
		t.Errorf("lag = %v, %v", v, err)
	}
	if _, err := metricSum(text, "orderpipe_missing"); err == nil {
		t.Error("a missing metric is not an error")
	}
}

func TestReadHWM(t *testing.T) {
	hwm, ok := readHWM("/proc/self/status")
	if !ok || hwm < 1<<20 {
		t.Errorf("readHWM(self) = %d, %v; want at least 1 MiB", hwm, ok)
	}
	if _, ok := readHWM("/proc/0/status"); ok {
		t.Error("readHWM of no process succeeded")
	}
}
