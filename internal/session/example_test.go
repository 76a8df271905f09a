package session_test

import (
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys/keystest"
	"parley.dev/internal/session"
)

// Alice starts a session with Bob's device from its prekey bundle; Bob
// answers from her first message. (keystest stands in for real keys and
// for the relay that hands out the bundle.)
func Example() {
	aliceAddr := addr.Address{User: "alice", Device: 1}
	bobAddr := addr.Address{User: "bob", Device: 1}
	alice := keystest.Identity("alice")
	bob := keystest.NewDevice(bobAddr) // Bob's identity, device key and prekeys

	// Alice fetched Bob's bundle from the relay (one-time EC key 1,
	// one-time KEM key 1), and checks its identity is the one she knows.
	a, err := session.Initiate(alice, aliceAddr, bob.Bundle(1, 1))
	if err != nil {
		panic(err)
	}
	first, _ := a.Encrypt([]byte("Hi Bob, it's Alice."))

	// Bob's relay says the message came from alice/1.
	info, _ := session.Peek(first)
	fmt.Println("Bob receives a", info.Type, "from", info.Header.From)
	b, plaintext, used, err := session.Respond(bob.Identity, bobAddr, aliceAddr, bob, first)
	if err != nil {
		panic(err)
	}
	bob.Delete(used.OneTimePreKey, used.KEMPreKey) // only now that it decrypted
	fmt.Printf("Bob reads %q\n", plaintext)
	fmt.Println("Alice's identity as Bob sees it matches:", b.RemoteIdentity().Equal(alice.Public()))

	reply, _ := b.Encrypt([]byte("Hi Alice!"))
	plaintext, _ = a.Decrypt(reply)
	fmt.Printf("Alice reads %q\n", plaintext)

	next, _ := a.Encrypt([]byte("Got it."))
	info, _ = session.Peek(next)
	fmt.Println("Alice now sends a", info.Type)

	// Output:
	// Bob receives a prekey message from alice/1
	// Bob reads "Hi Bob, it's Alice."
	// Alice's identity as Bob sees it matches: true
	// Alice reads "Hi Alice!"
	// Alice now sends a message
}
