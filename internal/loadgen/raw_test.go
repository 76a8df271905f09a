package loadgen_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"parley.dev/internal/loadgen"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// benchRelay starts a relay whose rate limits let a bench register and
// connect its devices, as the bench recipe tells operators to set them.
func benchRelay(t *testing.T, configure ...func(*server.Server)) loadgen.Target {
	t.Helper()
	open := server.Rate{Burst: 100_000, Per: time.Minute}
	r := servertest.Start(t, append([]func(*server.Server){func(s *server.Server) {
		s.RegisterRate, s.ChallengeRate, s.DeviceRate = open, open, open
	}}, configure...)...)
	ca, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return loadgen.Target{URL: r.URL, Roots: ca, MetricsURL: r.MetricsURL}
}

// checkResult checks what every successful run must show.
func checkResult(t *testing.T, res *loadgen.Result) {
	t.Helper()
	if res.Sent == 0 || res.Delivered != res.Acked {
		t.Errorf("sent %d, acked %d, delivered %d: nothing flowed, or acked envelopes were lost", res.Sent, res.Acked, res.Delivered)
	}
	var failed int64
	for _, n := range res.Errors {
		failed += n
	}
	if res.Acked+failed != res.Sent {
		t.Errorf("acked %d + failed %d != sent %d", res.Acked, failed, res.Sent)
	}
	for name, p := range map[string]loadgen.Percentiles{"submit→ack": res.SubmitAck, "submit→deliver": res.SubmitDeliver} {
		if !(0 < p.P50 && p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.P999 && p.P999 <= p.Max) {
			t.Errorf("%s percentiles out of order: %+v", name, p)
		}
	}
	if res.SubmitDeliver.Count != res.Delivered || res.SubmitAck.Count != res.Acked {
		t.Errorf("histograms hold %d and %d values for %d acked and %d delivered",
			res.SubmitAck.Count, res.SubmitDeliver.Count, res.Acked, res.Delivered)
	}
	if res.ClientCPU <= 0 || res.ClientCPUCores <= 0 {
		t.Errorf("the clients' CPU time is missing: %v, %v cores", res.ClientCPU, res.ClientCPUCores)
	}
	if res.RelayError != "" || res.Relay == nil || res.Relay.CPUSeconds <= 0 || res.Relay.RSSAfter <= 0 {
		t.Errorf("relay figures missing: %+v (%s)", res.Relay, res.RelayError)
	}
}

func TestRawClosedLoop(t *testing.T) {
	target := benchRelay(t)
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: target, Senders: 4, Payload: 256, Duration: 300 * time.Millisecond, Idle: 6,
	}, loadgen.NewRaw(target))
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	if len(res.Errors) != 0 || res.Mode != "raw" || res.Loop != "closed" {
		t.Errorf("%s %s loop, errors %v", res.Mode, res.Loop, res.Errors)
	}
	// This relay serves this run only, so its counters are the run's.
	if f := res.Relay; f.Queued != res.Acked || f.Delivered < res.Delivered || f.Connections != 2*4+6 {
		t.Errorf("relay queued %d, delivered %d, %d connections; bench acked %d, delivered %d, 14 connections",
			f.Queued, f.Delivered, f.Connections, res.Acked, res.Delivered)
	}
	if res.Idle != 6 { // (the relay's RSS per connection is noise for so few)
		t.Errorf("idle %d, want 6", res.Idle)
	}
	var j map[string]any
	b, err := json.Marshal(res)
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("JSON %s: %v", b, err)
	}
	for _, k := range []string{"mode", "sent", "acked_per_s", "submit_ack_ms", "submit_deliver_ms", "errors", "relay"} {
		if _, ok := j[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if j["delivered"] != float64(res.Delivered) || j["submit_ack_ms"].(map[string]any)["p99"] != float64(res.SubmitAck.P99)/1e6 {
		t.Errorf("JSON disagrees with the result: %s", b)
	}
}

// TestRawOpenLoop: 4 senders at 400 messages/s for 250 ms send exactly
// the 100 scheduled messages.
func TestRawOpenLoop(t *testing.T) {
	target := benchRelay(t)
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: target, Senders: 4, Rate: 400, Duration: 250 * time.Millisecond,
	}, loadgen.NewRaw(target))
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	if res.Sent != 100 || res.Loop != "open" || len(res.Errors) != 0 {
		t.Errorf("%s loop: sent %d, errors %v; want open, 100, none", res.Loop, res.Sent, res.Errors)
	}
}

// TestRawErrorsByCode: a relay that keeps one envelope per mailbox
// refuses the messages sent faster than their receivers ack: they are
// counted as mailbox-full, as the relay's own metrics count them.
func TestRawErrorsByCode(t *testing.T) {
	target := benchRelay(t, func(s *server.Server) { s.MailboxCap = 1 })
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: target, Senders: 2, Rate: 5000, Duration: 100 * time.Millisecond,
	}, loadgen.NewRaw(target))
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res)
	full := res.Errors["mailbox-full"]
	if full == 0 || len(res.Errors) != 1 {
		t.Errorf("errors %v; want only mailbox-full", res.Errors)
	}
	if got := res.Relay.Rejected["mailbox-full"]; got != full {
		t.Errorf("the relay refused %d as mailbox-full, the bench counted %d", got, full)
	}
	var text strings.Builder
	res.WriteText(&text)
	if !strings.Contains(text.String(), "errors     mailbox-full ") {
		t.Errorf("the report does not show the errors:\n%s", text.String())
	}
}

func TestRawRefusesOversizedPayload(t *testing.T) {
	target := benchRelay(t, func(s *server.Server) { s.MaxEnvelope = 1000 })
	_, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: target, Senders: 1, Payload: 1001, Duration: 100 * time.Millisecond,
	}, loadgen.NewRaw(target))
	if err == nil || !strings.Contains(err.Error(), "exceeds the relay's limit of 1000") {
		t.Errorf("payload over the relay's limit: %v", err)
	}
}

// TestRegistrationRateLimited: a relay at its default registration limit
// stops a bench at setup, with the relay's code in the error.
func TestRegistrationRateLimited(t *testing.T) {
	r := servertest.Start(t)
	ca, _ := os.ReadFile(r.CAFile)
	target := loadgen.Target{URL: r.URL, Roots: ca, MetricsURL: r.MetricsURL}
	_, err := loadgen.Run(context.Background(), loadgen.Config{Target: target, Senders: 8}, loadgen.NewRaw(target))
	if loadgen.ErrorCode(err) != "rate-limited" {
		t.Errorf("16 registrations at the default limit: %v", err)
	}
}
