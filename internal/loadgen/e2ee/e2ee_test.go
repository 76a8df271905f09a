package e2ee_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"parley.dev/internal/loadgen"
	"parley.dev/internal/loadgen/e2ee"
	"parley.dev/internal/vault"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

func TestMain(m *testing.M) {
	// The tests make many vaults; the bench itself uses the SDK's costs.
	vault.UnsafeCheapKDFForTests()
	os.Exit(m.Run())
}

func run(t *testing.T, cfg loadgen.Config) *loadgen.Result {
	t.Helper()
	open := server.Rate{Burst: 100_000, Per: time.Minute}
	r := servertest.Start(t, func(s *server.Server) { s.RegisterRate, s.ChallengeRate, s.DeviceRate = open, open, open })
	ca, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.Target = loadgen.Target{URL: r.URL, Roots: ca, MetricsURL: r.MetricsURL}
	res, err := loadgen.Run(context.Background(), cfg, e2ee.New(e2ee.Config{Server: r.URL, CAFile: r.CAFile, Dir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("vaults left behind: %v", left)
	}
	if res.Mode != "e2ee" || res.Sent == 0 || res.Acked != res.Sent || res.Delivered != res.Acked || len(res.Errors) != 0 {
		t.Errorf("sent %d, acked %d, delivered %d, errors %v", res.Sent, res.Acked, res.Delivered, res.Errors)
	}
	for _, p := range []loadgen.Percentiles{res.SubmitAck, res.SubmitDeliver} {
		if !(0 < p.P50 && p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.P999 && p.P999 <= p.Max) {
			t.Errorf("percentiles out of order: %+v", p)
		}
	}
	// The setup exchange (one message each way per pair) is not counted;
	// every envelope of the run is one message to one device.
	if f := res.Relay; f == nil || f.Queued != res.Acked {
		t.Errorf("relay figures %+v (%s), bench acked %d", f, res.RelayError, res.Acked)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
	return res
}

func TestE2EEClosedLoop(t *testing.T) {
	run(t, loadgen.Config{Senders: 2, Payload: 200, Duration: 400 * time.Millisecond})
}

func TestE2EEOpenLoop(t *testing.T) {
	res := run(t, loadgen.Config{Senders: 2, Rate: 40, Duration: 500 * time.Millisecond})
	if res.Sent != 20 {
		t.Errorf("sent %d, want the 20 scheduled", res.Sent)
	}
}
