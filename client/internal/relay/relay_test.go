package relay

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"parley.dev/internal/wire"
)

// fakeRelay answers the challenge endpoint, and everything else with the
// handler given.
func fakeRelay(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/challenge", func(w http.ResponseWriter, r *http.Request) {
		b, _ := wire.Marshal(&wire.Challenge{Nonce: [32]byte{1}, TTL: 60})
		w.Write(b)
	})
	if h != nil {
		mux.HandleFunc("/", h)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes refused on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func rootsOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func challenge(t *testing.T, cfg Config) error {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		return err
	}
	defer c.CloseIdle()
	_, err = c.challenge(context.Background())
	return err
}

func TestTrustedByCAFile(t *testing.T) {
	srv := fakeRelay(t, nil)
	if err := challenge(t, Config{URL: srv.URL, Roots: rootsOf(srv)}); err != nil {
		t.Fatalf("with the relay's CA: %v", err)
	}
}

func TestUntrustedWithoutCA(t *testing.T) {
	srv := fakeRelay(t, nil)
	if err := challenge(t, Config{URL: srv.URL}); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("system roots against a self-signed relay: err = %v, want ErrUntrusted", err)
	}
}

func TestWrongHostName(t *testing.T) {
	srv := fakeRelay(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// The test certificate names example.com and 127.0.0.1, not localhost.
	err := challenge(t, Config{URL: "https://localhost:" + port, Roots: rootsOf(srv)})
	if !errors.Is(err, ErrUntrusted) {
		t.Fatalf("wrong host name: err = %v, want ErrUntrusted", err)
	}
}

func TestPins(t *testing.T) {
	srv := fakeRelay(t, nil)
	good := SPKIPin(srv.Certificate())
	backup := textPin("backup key")
	other := textPin("another key")
	if err := challenge(t, Config{URL: srv.URL, Roots: rootsOf(srv), Pins: []string{backup, good}}); err != nil {
		t.Errorf("matching pin with a backup: %v", err)
	}
	err := challenge(t, Config{URL: srv.URL, Roots: rootsOf(srv), Pins: []string{backup, other}})
	if !errors.Is(err, ErrUntrusted) {
		t.Errorf("no matching pin: err = %v, want ErrUntrusted", err)
	}
	if err := challenge(t, Config{URL: srv.URL, Roots: rootsOf(srv), Pins: []string{good}}); !errors.Is(err, ErrConfig) {
		t.Errorf("a single pin (no backup): err = %v, want ErrConfig", err)
	}
	for _, bad := range []string{"sha1/AAAA", "sha256/!!!", PinPrefix + "AAAA"} {
		if _, err := ParsePins([]string{bad, backup}); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePins(%q): err = %v, want ErrConfig", bad, err)
		}
	}
	if _, err := ParsePins([]string{backup, backup}); !errors.Is(err, ErrConfig) {
		t.Errorf("a pin given twice: err = %v, want ErrConfig", err)
	}
}

func textPin(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return PinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

func TestOnlyHTTPS(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "ws://127.0.0.1:1", "wss://127.0.0.1:1", "127.0.0.1:1",
		"https://", "https://u:p@host", "https://host/path", "https://host?x=1"} {
		if _, err := New(Config{URL: u}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%q): err = %v, want ErrConfig", u, err)
		}
	}
	if _, err := New(Config{URL: "https://relay.example:8443"}); err != nil {
		t.Errorf("https URL: %v", err)
	}
}

func TestBadCAFile(t *testing.T) {
	if _, err := New(Config{URL: "https://h", Roots: []byte("not a certificate")}); !errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

func TestNoTLS12(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	err := challenge(t, Config{URL: srv.URL, Roots: rootsOf(srv)})
	if err == nil {
		t.Fatal("a TLS 1.2 relay was accepted")
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	followed := false
	srv := fakeRelay(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	c, err := New(Config{URL: srv.URL, Roots: rootsOf(srv)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = request[*wire.OK](context.Background(), c, http.MethodGet, "/v1/x", nil, nil)
	if !errors.Is(err, ErrProtocol) || followed {
		t.Fatalf("redirect: err = %v, followed = %v; want ErrProtocol, not followed", err, followed)
	}
}

func TestRelayErrorFrame(t *testing.T) {
	srv := fakeRelay(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := wire.Marshal(wire.Errorf(wire.CodeUnknownUser, "no such user"))
		w.WriteHeader(http.StatusNotFound)
		w.Write(b)
	})
	c, err := New(Config{URL: srv.URL, Roots: rootsOf(srv)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = request[*wire.DeviceList](context.Background(), c, http.MethodGet, "/v1/users/x/devices", nil, nil)
	if !errors.Is(err, wire.CodeUnknownUser) {
		t.Fatalf("err = %v, want unknown-user", err)
	}
}

func TestGatewayErrorIsUnreachable(t *testing.T) {
	srv := fakeRelay(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
	c, _ := New(Config{URL: srv.URL, Roots: rootsOf(srv)})
	_, err := request[*wire.OK](context.Background(), c, http.MethodGet, "/v1/x", nil, nil)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestConnectionRefusedIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "https://" + l.Addr().String()
	l.Close()
	if err := challenge(t, Config{URL: u}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}
