package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"parley.dev/client"
)

// TestExport: the user's copy holds the account, each conversation's
// messages both ways, attachments' descriptions and groups with their
// history, and nothing secret.
func TestExport(t *testing.T) {
	ctx := context.Background()
	r := startRelay(t)
	alice, bob := register(t, r, "alice"), register(t, r, "bob")
	register(t, r, "carol")
	send(t, alice, "bob", "hello bob")
	syncNow(t, bob)
	send(t, bob, "alice", "hi alice")
	if _, err := alice.SendFileFrom(ctx, "bob", strings.NewReader("file body"), client.FileOptions{Name: "notes.txt", Caption: "the notes"}); err != nil {
		t.Fatal(err)
	}
	syncNow(t, alice)
	g, err := alice.CreateGroup(ctx, "team", []string{"bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, g, "to the team"); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := alice.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Format        string
		Account       struct{ User string }
		Conversations []struct {
			Contact  string
			Messages []struct {
				Text       string
				Outgoing   bool
				Attachment *struct{ Name string }
			}
		}
		Groups []struct {
			Name    string
			Members []struct{ User string }
			Entries []struct {
				Message *struct{ Text string }
				Change  *struct{ Kind string }
			}
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if doc.Format != client.ExportFormat || doc.Account.User != "alice" {
		t.Fatalf("export: %s", buf.Bytes())
	}
	got := map[string]string{} // text: "out", "in" or the attachment's name
	for _, conv := range doc.Conversations {
		if conv.Contact != "bob" {
			continue
		}
		for _, m := range conv.Messages {
			switch {
			case m.Attachment != nil:
				got[m.Text] = m.Attachment.Name
			case m.Outgoing:
				got[m.Text] = "out"
			default:
				got[m.Text] = "in"
			}
		}
	}
	if len(got) != 3 || got["hello bob"] != "out" || got["hi alice"] != "in" || got["the notes"] != "notes.txt" {
		t.Fatalf("the conversation with bob: %v", got)
	}
	if len(doc.Groups) != 1 || doc.Groups[0].Name != "team" || len(doc.Groups[0].Members) != 3 {
		t.Fatalf("groups: %+v", doc.Groups)
	}
	var sawText, sawCreate bool
	for _, e := range doc.Groups[0].Entries {
		sawText = sawText || (e.Message != nil && e.Message.Text == "to the team")
		sawCreate = sawCreate || (e.Change != nil && e.Change.Kind == "create")
	}
	if !sawText || !sawCreate {
		t.Fatalf("group entries: %+v", doc.Groups[0].Entries)
	}
	for _, secret := range []string{"PRIVATE", "secret", "key\""} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the export mentions %q", secret)
		}
	}
	if err := (&client.Client{Home: t.TempDir()}).Export(ctx, &buf); err == nil {
		t.Error("Export of a locked client succeeded")
	}
}
