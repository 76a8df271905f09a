package relay

import (
	"context"
	"errors"
	"os"
	"testing"

	"parley.dev/internal/keys"
	"parley.dev/internal/wire"
	"parley.dev/server"
	"parley.dev/server/servertest"
)

// registered returns a client of a real relay and a registered device.
func registered(t *testing.T, configure ...func(*server.Server)) (*Client, Auth) {
	t.Helper()
	r := servertest.Start(t, configure...)
	ca, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{URL: r.URL, Roots: ca})
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dk, err := keys.GenerateDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := id.SignDeviceCert("alice", dk.Public())
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Register(context.Background(), dk, &wire.Register{User: "alice",
		Identity: id.Public().Bytes(), DeviceKey: dk.Public().Bytes(), DeviceCert: cert})
	if err != nil {
		t.Fatal(err)
	}
	return c, Auth{Address: a, Key: dk}
}

// TestRequestsUseTheConnection: with a connection open, requests go over
// it; once it is closed, over HTTP; both give the same answer.
func TestRequestsUseTheConnection(t *testing.T) {
	c, a := registered(t)
	ctx := context.Background()
	conn, err := c.Dial(ctx, a, DialOptions{Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.liveConn(&a) != conn {
		t.Fatal("the open connection is not used for requests")
	}
	over, err := c.Devices(ctx, a, "alice")
	if err != nil || len(over.Devices) != 1 {
		t.Fatalf("devices over the connection: %v %v", over, err)
	}
	if _, err := c.Devices(ctx, a, "nobody"); !errors.Is(err, wire.CodeUnknownUser) {
		t.Fatalf("unknown user over the connection: %v", err)
	}
	conn.Close()
	if c.liveConn(&a) != nil {
		t.Fatal("a closed connection is still used")
	}
	viaHTTP, err := c.Devices(ctx, a, "alice")
	if err != nil || len(viaHTTP.Devices) != 1 || viaHTTP.Devices[0].Device != over.Devices[0].Device {
		t.Fatalf("devices over HTTP: %v %v", viaHTTP, err)
	}
}

// TestDisplaced: a connection displaced by a newer one of its device
// ends with the relay's displaced error.
func TestDisplaced(t *testing.T) {
	c, a := registered(t, func(s *server.Server) { s.MaxDeviceConns = 1 })
	ctx := context.Background()
	first, err := c.Dial(ctx, a, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Dial(ctx, a, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	<-first.Done()
	if err := first.Err(); !errors.Is(err, wire.CodeDisplaced) {
		t.Fatalf("displaced connection ended with %v", err)
	}
	if st, err := c.PreKeyStatus(ctx, a); err != nil || st == nil {
		t.Fatalf("request over the newer connection: %v", err)
	}
}
