package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"parley.dev/client"
)

// Alice creates a group with Bob and Carol, writes to it, then removes
// Carol: Bob reads what follows, Carol does not.
func ExampleClient_CreateGroup() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	url, caFile, stop := exampleRelay(filepath.Join(dir, "relay"))
	defer stop()
	ctx := context.Background()
	alice := exampleDevice(dir, url, caFile, "alice")
	defer alice.Close()
	bob := exampleDevice(dir, url, caFile, "bob")
	defer bob.Close()
	carol := exampleDevice(dir, url, caFile, "carol")
	defer carol.Close()

	team, err := alice.CreateGroup(ctx, "team", []string{"bob", "carol"})
	if err != nil {
		log.Fatal(err)
	}
	show := func(name string, c *client.Client) {
		events, err := c.Sync(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, e := range events {
			switch e.Kind {
			case client.EventMessage:
				fmt.Printf("%s reads %s in %s: %s\n", name, e.Message.Contact, e.Message.GroupName, e.Message.Text)
			case client.EventGroupChanged:
				fmt.Printf("%s sees %s %s %v\n", name, e.Group.By, e.Group.Kind, e.Group.Users)
			}
		}
	}
	show("bob", bob)
	show("carol", carol)
	if _, err := alice.SendGroup(ctx, team, "Stand-up at ten."); err != nil {
		log.Fatal(err)
	}
	if err := alice.RemoveMembers(ctx, team, []string{"carol"}); err != nil {
		log.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, team, "Carol has moved on."); err != nil {
		log.Fatal(err)
	}
	show("bob", bob)
	show("carol", carol)
	// Output:
	// bob sees alice create [alice bob carol]
	// carol sees alice create [alice bob carol]
	// bob reads alice in team: Stand-up at ten.
	// bob sees alice remove [carol]
	// bob reads alice in team: Carol has moved on.
	// carol reads alice in team: Stand-up at ten.
	// carol sees alice remove [carol]
}
