package server_test

import (
	"regexp"
	"strconv"
	"testing"
)

// TestProcessMetrics: /metrics carries the relay process's CPU time,
// resident memory and open files under Prometheus' standard names, with
// plausible values ("parley bench" divides the CPU time by envelopes).
func TestProcessMetrics(t *testing.T) {
	r := startRelay(t)
	text := metricsText(t, r.Client(), r.MetricsURL)
	for name, min := range map[string]float64{
		"process_cpu_seconds_total":     0.000001, // the relay has done some work
		"process_resident_memory_bytes": 1 << 20,
		"process_open_fds":              3, // at least the listener and the database
	} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("metrics lack %s", name)
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v < min {
			t.Errorf("%s = %q, want a number ≥ %g", name, m[1], min)
		}
	}
	if !regexp.MustCompile(`(?m)^# TYPE process_cpu_seconds_total counter$`).MatchString(text) {
		t.Error("process_cpu_seconds_total is not typed as a counter")
	}
}
