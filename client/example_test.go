package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"parley.dev/client"
	"parley.dev/server"
)

// exampleRelay starts a relay in-process, as parleyd --dev would: a
// development CA in its data directory, TLS 1.3 on a loopback port.
func exampleRelay(dir string) (url, caFile string, stop func()) {
	tlsConf, err := server.DevTLS(dir)
	if err != nil {
		log.Fatal(err)
	}
	s := &server.Server{DataDir: dir, TLSConfig: tlsConf}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(l)
	return "https://" + l.Addr().String(), filepath.Join(dir, server.DevCAFile), func() { s.Shutdown(context.Background()) }
}

// exampleDevice creates a device's vault in dir and registers it as user.
func exampleDevice(dir, url, caFile, user string) *client.Client {
	c := &client.Client{Home: filepath.Join(dir, user), Server: url, CAFile: caFile}
	ctx := context.Background()
	pin := []byte("480715") // PINPolicy refuses 1234, 111111, 123456 and the like
	if err := c.Create(ctx, pin); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Register(ctx, user, client.RegisterOptions{}); err != nil {
		log.Fatal(err)
	}
	// The relay now counts wrong PINs and destroys the vault's key after
	// ten in a row: a copy of the vault is useless without the relay.
	if err := c.SetFactors(ctx, pin, client.FactorOptions{Relay: true}); err != nil {
		log.Fatal(err)
	}
	return c
}

// Alice and Bob register with a relay, exchange a message each, and read
// the conversation back from their vaults.
func Example() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	url, caFile, stop := exampleRelay(filepath.Join(dir, "relay"))
	defer stop()
	ctx := context.Background()

	alice := exampleDevice(dir, url, caFile, "alice")
	defer alice.Close()
	bob := exampleDevice(dir, url, caFile, "bob")
	defer bob.Close()

	if _, err := alice.Send(ctx, "bob", "Hi Bob, it's Alice."); err != nil {
		log.Fatal(err)
	}
	events, err := bob.Sync(ctx) // receives what the relay holds for Bob
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		if e.Kind == client.EventMessage {
			fmt.Printf("bob got %q from %s\n", e.Message.Text, e.Message.Contact)
		}
	}
	bob.Send(ctx, "alice", "Hi Alice!")
	alice.Sync(ctx)

	history, _ := alice.History(ctx, "bob")
	for _, m := range history {
		dir := "<-"
		if m.Outgoing {
			dir = "->"
		}
		fmt.Printf("alice %s %s (%v)\n", dir, m.Text, m.Status)
	}
	// Output:
	// bob got "Hi Bob, it's Alice." from alice
	// alice -> Hi Bob, it's Alice. (sent)
	// alice <- Hi Alice! (received)
}

// Messages written while the relay is unreachable wait in the encrypted
// outbox and go out on the next Sync.
func ExampleClient_Send_offline() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	url, caFile, stop := exampleRelay(filepath.Join(dir, "relay"))
	ctx := context.Background()
	alice := exampleDevice(dir, url, caFile, "alice")
	defer alice.Close()
	bob := exampleDevice(dir, url, caFile, "bob")
	defer bob.Close()
	stop() // the relay goes away

	_, err := alice.Send(ctx, "bob", "Are you there?")
	fmt.Println("queued:", errors.Is(err, client.ErrUnreachable))
	history, _ := alice.History(ctx, "bob")
	fmt.Println("status:", history[0].Status)
	// Output:
	// queued: true
	// status: queued
}

// Listen stays connected and reports each message as it arrives.
func ExampleClient_Listen() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	url, caFile, stop := exampleRelay(filepath.Join(dir, "relay"))
	defer stop()
	alice := exampleDevice(dir, url, caFile, "alice")
	defer alice.Close()
	bob := exampleDevice(dir, url, caFile, "bob")
	defer bob.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	synced := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- bob.Listen(ctx, func(e client.Event) {
			switch e.Kind {
			case client.EventSynced:
				close(synced) // the backlog is in; live messages follow
			case client.EventMessage:
				fmt.Printf("%s: %s\n", e.Message.Contact, e.Message.Text)
				cancel()
			}
		})
	}()
	<-synced
	alice.Send(context.Background(), "bob", "Are you online?")
	fmt.Println("Listen returned:", <-done)
	// Output:
	// alice: Are you online?
	// Listen returned: context canceled
}

// Alice and Bob compare safety numbers in person; Alice marks Bob
// verified. Had the relay swapped Bob's key, the numbers would differ.
func ExampleClient_Verify() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	url, caFile, stop := exampleRelay(filepath.Join(dir, "relay"))
	defer stop()
	ctx := context.Background()
	alice := exampleDevice(dir, url, caFile, "alice")
	defer alice.Close()
	bob := exampleDevice(dir, url, caFile, "bob")
	defer bob.Close()
	alice.Send(ctx, "bob", "hello")
	bob.Sync(ctx)

	onAlicesPhone, _ := alice.SafetyNumber(ctx, "bob")
	onBobsPhone, _ := bob.SafetyNumber(ctx, "alice")
	fmt.Println("same number:", onAlicesPhone.String() == onBobsPhone.String())
	fmt.Println("verify:", alice.Verify(ctx, "bob", onBobsPhone.String()))
	contacts, _ := alice.Contacts(ctx)
	fmt.Printf("%s verified: %v\n", contacts[0].User, contacts[0].Verified)
	// Output:
	// same number: true
	// verify: <nil>
	// bob verified: true
}
