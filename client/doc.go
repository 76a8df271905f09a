// Package client is the Parley SDK: one device of one user, exchanging
// end-to-end encrypted messages through a Parley relay that cannot read
// them. Go programs embed it directly; the gomobile and WebAssembly routes
// do not work yet (see Platforms).
//
// # A first conversation
//
// Configure a Client with exported fields, then create its vault (first
// run) or unlock it (every later run) with the user's PIN:
//
//	c := &client.Client{
//		Home:   dir,                        // the device's encrypted vault
//		Server: "https://relay.example",    // saved at Register
//		CAFile: "ca.pem",                   // optional: a development relay's CA
//	}
//	err := c.Create(ctx, pin)               // first run; later: c.Unlock(ctx, pin)
//	defer c.Close()
//	_, err = c.Register(ctx, "alice", client.RegisterOptions{})
//
//	id, err := c.Send(ctx, "bob", "Hi Bob!")
//	events, err := c.Sync(ctx)              // receive what is queued, then return
//	err = c.Listen(ctx, func(e client.Event) { ... }) // or stay connected
//
// Send returns once the relay has stored the message for every device of
// the recipient. When the relay cannot be reached, or refuses the message
// for now (a rate limit, a full mailbox), it returns ErrQueued (with the
// cause, such as ErrUnreachable): the message is safe in the encrypted
// outbox and goes out by itself on the next Send, Sync or Listen, so it
// must not be sent again (TestSendOutcomeIsExact). Sync and Listen report Events:
// new messages, queued messages that went out, messages that expired
// undelivered, identity changes, and messages that could not be read.
// History and Contacts read what is stored.
//
// # Storage
//
// Everything the device knows (its keys, sessions, contacts, history and
// outbox) is in a vault in Home, sealed under a key derived from the PIN
// with Argon2id and from optional factors; nothing readable is written to
// disk and nothing secret is logged. Wrong PINs are counted: after five,
// each attempt waits longer (a *PINError says until when), and WipeAfter
// can destroy the vault after N. Only one process may open a vault at a
// time. New PINs must pass PINPolicy (6 digits or an 8-character
// passphrase, no repeats, runs or common PINs).
//
// The PIN alone falls in minutes once the vault's files are copied, so
// apps add factors (docs/factors.md says which):
//
//	err = c.SetFactors(ctx, pin, client.FactorOptions{
//		Relay:   true,                                          // the relay counts wrong PINs
//		Factors: []client.Factor{client.KeystoreFactor("", ks)}, // the phone's secure hardware
//	})
//
// With the relay factor every unlock is a guess the relay counts; ten
// wrong in a row (the operator's choice) and it destroys the vault's key
// (ErrRelayLocked), and no copy or rollback of the files gives a guess
// back. Unlocking then needs the relay (ErrRelayNeeded). A Keystore is
// implemented by the app in Kotlin or Swift (the callback suits gomobile).
//
// # Delivery
//
// Each message is encrypted separately to every device of the recipient
// (certified by the recipient's identity key; the relay cannot add one)
// and, as a transcript, to this user's other devices, over PQXDH sessions
// with ML-KEM-1024 and the Double Ratchet. The encrypted copies and the
// advanced session state are saved before anything is sent, and saved
// copies are resubmitted unchanged after a crash. A received message is
// stored with its session state before the relay is told to delete it, so
// a crash loses nothing and shows nothing twice; duplicates and replays
// from the relay are dropped in silence (TestAttack02ReplayEnvelope,
// TestAttack02ReplayedFirstMessageChangesNothing). A real message that
// can no longer be decrypted (its key was discarded, or its sender's app
// was restored from a backup) is reported as an EventError with
// ErrUndecryptable, never dropped in silence (TestLostMessageIsVisible,
// TestMessageWithEvictedKeyIsVisible). A message stays marked unread until
// an event has handed it to the app, so one stored just before a crash is
// reported by the next Sync or Listen (TestUnannouncedMessageIsReported);
// after a crash it may be reported twice, with the same ID.
//
// # Attachments
//
// SendFile (a path) and SendFileFrom (a stream) send a file: it is
// encrypted on the device under a fresh key, chunk by chunk, uploaded to
// the relay in parts, and the message carrying its key follows. Memory
// stays flat whatever the size (BenchmarkAttachmentMemory). A network drop
// is retried at once, resuming where the relay stopped, while attempts
// make progress; otherwise SendFile returns ErrQueued and the upload
// resumes by itself with the next Send, Sync or Listen, after a restart
// too (TestSendFileOutcomeIsExact):
//
//	id, err := c.SendFile(ctx, "bob", "photo.jpg", client.FileOptions{
//		ContentType: "image/jpeg", Progress: func(done, total int64) { ... },
//	})
//
// A received attachment is an EventMessage whose Message.Attachment
// describes it. Files of at most AutoDownload bytes are downloaded by
// themselves (by Sync, or by Listen in the background, then
// EventDownloaded); Download fetches any other, resuming after drops and
// restarts. Files land in the vault, encrypted; OpenAttachment reads one
// and SaveAttachment writes its plaintext where the app asks.
//
// # Several devices
//
// A user may have several devices, all with the same identity. To add
// one, create its vault, call LinkRequest on it and show the code to a
// registered device, whose ApproveLink returns the approval to pass to the
// new device's Register (RegisterOptions.Link). Messages then reach every
// device, and each device's own messages reach the others. Devices lists
// them; RevokeDevice removes a lost one.
//
// # Groups
//
// CreateGroup makes a group with this user as its admin; AddMembers,
// RemoveMembers, SetAdmins and RenameGroup change it (admins only),
// LeaveGroup leaves it, and Groups, Group, Members and GroupHistory read
// it. Every change is signed with the admin's identity key and checked by
// every member against the state it holds, so the relay cannot add anyone,
// roll a group back or fork it unnoticed; a refused change is reported as
// an EventGroupRefused. SendGroup encrypts a text once, under this
// device's sender key, and the relay stores it for every device of every
// member: an EventMessage whose Message.Group names the group. After
// someone leaves or is removed, every device starts a fresh sender key
// before it writes again, so a removed member reads nothing that follows;
// a member added later reads nothing from before. A device linked later
// receives the current state of its user's groups, not their history.
//
// # Disappearing messages
//
// SetTimer gives a conversation a timer: every message sent in it from
// then on, by either user, is deleted from the history of every device
// the timer's length after it was sent (Message.Expires), and from the
// vault's files, which are compacted after each deletion. A copy that
// arrives after that is never stored, and the relay keeps it no longer
// either. The other user's devices learn the change inside the encrypted
// session (EventTimer); Timer reads it. A tenant policy caps the timer,
// may give new conversations one, and may delete all history older than
// a number of days (Policy.RetentionDays). The timer binds cooperating
// apps only: nothing stops the other user taking a screenshot.
//
// # Identities and safety numbers
//
// The first identity seen for a user is trusted. If it changes, an
// EventIdentityChanged says so. Compare SafetyNumber with the other user
// (read the digits or scan the QR code) and call Verify; if the identity
// of a verified contact changes, sending to them is held (ErrIdentityChanged)
// until you compare again and call AcceptIdentity or Verify.
//
// # Errors
//
// Errors are branchable with errors.Is: each sentinel (ErrWrongPIN,
// ErrUnreachable, ErrUnknownUser, ErrIdentityChanged ...) documents what
// the user should do next. The relay's other refusals are *RelayError.
//
// # Transport
//
// The relay is reached over https and wss only, TLS 1.3, with its chain
// and host name verified against the system roots or CAFile, and
// optionally pinned (Pins, with a backup pin). There is no plaintext mode
// and no way to skip verification.
//
// A Client is safe for concurrent use once unlocked.
//
// # Platforms
//
// On Linux, macOS and other Unix systems everything above works. Built
// for the browser (GOOS=js GOARCH=wasm) the package compiles, but Create
// fails: the vault needs a file system with locking (under Node.js SQLite
// reports "sqlite3: disk I/O error"; a browser has no file system at all).
// Through gomobile it is not usable yet: gobind skips every method that
// takes a context.Context or returns a Go-only type, which leaves Client
// with Close alone. Both need work of their own (a browser storage
// backend, the mobile/ facade).
package client
