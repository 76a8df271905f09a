// Package vault is a device's encrypted storage: everything a Parley
// device knows (identity and device keys, prekey secrets, sessions,
// contacts, message history, outbox, settings) is a record in a vault.
//
// # Keys
//
// A random 256-bit data key seals every record with XChaCha20-Poly1305
// under a fresh random nonce, bound to the record's namespace and key. The
// data key is wrapped by a key-encryption key derived from the PIN with
// Argon2id and from optional further factors (see Factor), such as a
// platform keystore secret. Changing the PIN (ChangePIN) or the factors
// (SetFactors) re-wraps the data key; records are not rewritten. Nothing
// readable reaches disk: record keys are stored as HMACs, and the SQLite
// database (with its WAL) is itself encrypted with AES-XTS, so not even
// page counts show. docs/protocol.md ("Device vault")
// gives every byte of the files; docs/threat-model.md ("A thief of the
// phone") says what this does and does not protect against.
//
// # Use
//
//	v, err := vault.Create(ctx, dir, pin, vault.Options{WipeAfter: 10})
//	...
//	v, err = vault.Open(ctx, dir, pin, vault.Options{WipeAfter: 10})
//	var wrong *vault.WrongPINError
//	var locked *vault.LockedError
//	switch {
//	case errors.As(err, &wrong): // wrong.Remaining attempts left
//	case errors.As(err, &locked): // try again after locked.Until
//	case errors.Is(err, vault.ErrWiped): // start over
//	}
//	defer v.Close()
//	err = v.Put("contacts", "alice", data)
//	err = v.Update(func(tx *vault.Tx) error {
//		// several records, committed together or not at all
//	})
//
// Wrong PINs are counted durably before the KDF runs; after FreeAttempts
// consecutive failures each further one locks the vault for a growing
// delay, and Options.WipeAfter destroys the data key after that many.
//
// Every error that reflects tampering or truncation of a file or record
// wraps ErrCorrupt; nothing is ever returned from a record that fails
// authentication, and a damaged record is never reported as absent.
//
// Tests of this module make Argon2id cheap with UnsafeCheapKDFForTests.
package vault

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MaxPINLen bounds the PIN (any bytes, at least one).
const MaxPINLen = 1024

// Options configure Create, Open and the resulting Vault. The zero value
// works: default KDF costs, no further factors, no wipe, the system clock
// and no logging.
type Options struct {
	// KDF are the Argon2id costs used by Create and ChangePIN. Zero means
	// DefaultKDF (ChangePIN: keep the vault's current costs). Open reads
	// the costs from the vault, within the caps MaxKDF*.
	KDF KDFParams
	// Factors are combined with the PIN into the key-encryption key.
	// Open needs exactly the factors (by name) the vault was created with.
	Factors []Factor
	// WipeAfter destroys the data key after this many consecutive wrong
	// PINs at Open. Zero never wipes.
	WipeAfter int
	// Now is the clock for lockout delays; nil means time.Now.
	Now func() time.Time
	// Logger receives events (opened, wrong PIN, locked, wiped); nil
	// means silent. It never receives PINs, keys or record contents.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Factors = append([]Factor(nil), o.Factors...)
	return o
}

func (o Options) guard(dir string) *guard {
	return &guard{dir: dir, now: o.Now, wipeAfter: o.WipeAfter, log: o.Logger}
}

// Vault is an unlocked vault. It is safe for concurrent use by multiple
// goroutines; its zero value is not usable (use Create or Open). A
// function passed to Update must use its Tx and never the Vault itself,
// which would deadlock.
//
// It holds the data key in memory until Close, which zeroes what it can.
// It prints as REDACTED.
type Vault struct {
	_   [0]func() // incomparable
	dir string
	opt Options

	// Lock order: closeMu before hdrMu, then the directory's attempt
	// lock (lock.go).
	closeMu sync.RWMutex // read-held by every operation, write-held by Close
	closed  bool
	db      *sql.DB
	keys    *recordKeys
	dataKey *secret

	stmts map[string]*sql.Stmt // prepared in openDB (tx.go)
	q     *recordQueries       // the schema version's statements (queries.go)

	hdrMu sync.Mutex // serializes ChangePIN
	hdr   *header
}

// Format prints REDACTED: a Vault holds keys.
func (v *Vault) Format(f fmt.State, _ rune) { fmt.Fprint(f, "vault.Vault{"+redacted+"}") }

// Exists reports whether dir holds a vault header, live or wiped (Open
// reports ErrWiped for the latter).
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, headerFile))
	return err == nil
}

func checkPIN(pin []byte) error {
	if len(pin) == 0 || len(pin) > MaxPINLen {
		return fmt.Errorf("%w: PIN length %d not in 1..%d", ErrInvalid, len(pin), MaxPINLen)
	}
	return nil
}

// Create makes a new vault in dir (created if needed; made 0700, its files
// 0600, whatever the umask: see private.go) locked by pin and opt.Factors,
// and returns it open. It fails with ErrExists if dir
// holds a live vault; a wiped one is replaced. It runs the KDF once.
func Create(ctx context.Context, dir string, pin []byte, opt Options) (*Vault, error) {
	opt = opt.withDefaults()
	kdf := opt.KDF.effective()
	if err := kdf.check(cheapKDF.Load()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	names, err := factorNames(opt.Factors)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	switch _, err := readHeader(dir); {
	case err == nil, errors.Is(err, ErrCorrupt): // never overwrite what may be a damaged vault
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	case !errors.Is(err, ErrNoVault) && !errors.Is(err, ErrWiped):
		return nil, err
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if err := makePrivate(dir, opt.Logger); err != nil {
		return nil, err
	}
	if err := removeDB(dir); err != nil { // left by a crashed Create or a wipe
		return nil, err
	}
	h := &header{state: stateActive, kdf: kdf, factors: names}
	randomBytes(h.salt[:])
	randomBytes(h.vaultID[:])
	dk := make([]byte, keySize)
	randomBytes(dk)
	v := &Vault{dir: dir, opt: opt, hdr: h, dataKey: newSecret(dk)}
	if err := v.create(ctx, pin); err != nil {
		v.shut()
		removeDB(dir)
		return nil, err
	}
	opt.Logger.Info("vault: created", "kdf_memory_kib", kdf.Memory, "kdf_time", kdf.Time, "factors", len(names))
	return v, nil
}

// create wraps the data key, creates the database and writes the attempt
// file and then the header: a vault exists once its header does.
func (v *Vault) create(ctx context.Context, pin []byte) error {
	kek, err := deriveKEK(ctx, pin, v.hdr, v.opt.Factors)
	if err != nil {
		return err
	}
	v.hdr.wrapped = seal(newAEAD(kek.bytes()), nil, v.dataKey.bytes(), v.hdr.wrapAD())
	kek.wipe()
	if err := v.openDB(ctx, true); err != nil {
		return err
	}
	if err := writeAttempts(v.dir, attempts{}); err != nil {
		return err
	}
	return writeFileAtomic(v.dir, headerFile, v.hdr.marshal())
}

// Open unlocks the vault in dir with pin and opt.Factors.
//
// A wrong PIN returns a *WrongPINError (ErrWrongPIN) and changes nothing
// but the attempt counter, which is written to disk before the KDF runs.
// While locked it returns a *LockedError (ErrLocked) without trying the
// PIN. After opt.WipeAfter consecutive failures it destroys the data key
// and returns ErrWiped. Tampered or truncated files give ErrCorrupt; a
// header whose KDF costs exceed the caps is refused before any work.
func Open(ctx context.Context, dir string, pin []byte, opt Options) (*Vault, error) {
	opt = opt.withDefaults()
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	h, err := readHeader(dir)
	if err != nil {
		return nil, err
	}
	if err := makePrivate(dir, opt.Logger); err != nil {
		return nil, err
	}
	factors, err := matchFactors(h.factors, opt.Factors)
	if err != nil {
		return nil, err
	}
	opt.Factors = factors
	dk, err := unlock(ctx, opt.guard(dir), pin, h, factors, true)
	if err != nil {
		return nil, err
	}
	v := &Vault{dir: dir, opt: opt, hdr: h, dataKey: dk}
	if err := v.openDB(ctx, false); err != nil {
		v.shut()
		return nil, err
	}
	opt.Logger.Info("vault: opened")
	return v, nil
}

// unlock checks the lock, counts the guess, derives the KEK and unwraps
// the data key, all under the directory's attempt lock (lock.go).
func unlock(ctx context.Context, g *guard, pin []byte, h *header, fs []Factor, allowWipe bool) (*secret, error) {
	release, err := lockAttempts(ctx, g.dir)
	if err != nil {
		return nil, err
	}
	defer release()
	prev, err := g.begin()
	if err != nil {
		return nil, err
	}
	kek, err := deriveKEK(ctx, pin, h, fs)
	if err != nil {
		g.restore(prev)
		return nil, err
	}
	dk, err := open(newAEAD(kek.bytes()), h.wrapped, h.wrapAD())
	kek.wipe()
	if err != nil || len(dk) != keySize {
		return nil, g.fail(prev, allowWipe)
	}
	if err := g.succeed(); err != nil {
		clear(dk)
		return nil, err
	}
	return newSecret(dk), nil
}

// openDB opens the database under keys derived from the data key; a new
// one gets the schema and the check record, an existing one is checked.
func (v *Vault) openDB(ctx context.Context, create bool) error {
	dk := v.dataKey.bytes()
	v.keys = newRecordKeys(dk)
	v.q = &queriesV2
	xk := derive(dk, nil, labelSQLiteXTS, xtsKeySize)
	if create {
		if err := createPrivate(filepath.Join(v.dir, dbFile)); err != nil {
			clear(xk)
			return err
		}
	}
	db, err := openDB(v.dir, xk)
	clear(xk)
	if err != nil {
		return err
	}
	v.db = db
	if create {
		if err := createSchema(ctx, db); err != nil {
			return err
		}
		if err := v.prepare(ctx); err != nil {
			return err
		}
		chk := seal(v.keys.seal, nil, v.hdr.vaultID[:], checkAD(v.hdr.vaultID[:]))
		_, err := db.ExecContext(ctx, "INSERT INTO meta(name, val) VALUES('check', ?)", chk)
		return dbErr("writing check record", err)
	}
	version, err := v.verifyDB(ctx)
	if err != nil {
		return err
	}
	if version == schemaV1 {
		v.migrateOrStay(ctx)
	}
	return v.prepare(ctx)
}

// verifyDB returns the database's schema version (checkSchema), failing
// with ErrCorrupt unless the database holds a check record sealed under
// this vault's key and ID.
func (v *Vault) verifyDB(ctx context.Context) (version int, err error) {
	version, err = checkSchema(ctx, v.db)
	if err != nil {
		return 0, err
	}
	var chk []byte
	err = v.db.QueryRowContext(ctx, "SELECT val FROM meta WHERE name = 'check'").Scan(&chk)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, corrupt("database check record missing")
	}
	if err != nil {
		return 0, dbErr("reading check record", err)
	}
	id, err := open(v.keys.seal, chk, checkAD(v.hdr.vaultID[:]))
	if err != nil || !bytes.Equal(id, v.hdr.vaultID[:]) {
		return 0, corrupt("database does not belong to this header")
	}
	return version, nil
}

// migrateOrStay migrates a version 1 database, or, if that fails, keeps
// it at version 1 (the migration is one transaction) and uses version 1's
// statements until a later Open migrates it: a vault that opened before
// the upgrade opens after it, with whatever records it could read (a
// damaged page fails the migration, which reads every page, but only
// the records on that page), and a full disk does not lock the user out.
func (v *Vault) migrateOrStay(ctx context.Context) {
	if err := migrateV1(ctx, v.db); err != nil {
		v.q = &queriesV1
		v.opt.Logger.Warn("vault: schema migration failed; staying on version 1", "err", err)
	}
}

// ChangePIN re-wraps the data key under newPIN (with the same factors);
// records are not rewritten. oldPIN must be the current PIN: a wrong one
// counts as a failed attempt and can lock the vault like Open, but never
// wipes it (whoever holds an open Vault already has its contents). It runs
// the KDF twice. The new wrapping uses Options.KDF if set, else the
// vault's current costs, and a fresh salt.
func (v *Vault) ChangePIN(ctx context.Context, oldPIN, newPIN []byte) error {
	if err := checkPIN(newPIN); err != nil {
		return err
	}
	return v.rekey(ctx, oldPIN, newPIN, nil, false)
}

// SetFactors re-wraps the data key under pin and a new set of factors
// (nil removes them all), for example to add a platform keystore factor to
// an existing vault. pin is checked like ChangePIN's oldPIN; later Opens
// need exactly the new factors.
func (v *Vault) SetFactors(ctx context.Context, pin []byte, factors []Factor) error {
	if _, err := factorNames(factors); err != nil {
		return err
	}
	return v.rekey(ctx, pin, pin, append([]Factor(nil), factors...), true)
}

// rekey checks oldPIN with the current factors, then writes a header
// wrapping the data key under newPIN and, if replace, the given factors.
func (v *Vault) rekey(ctx context.Context, oldPIN, newPIN []byte, factors []Factor, replace bool) error {
	if err := checkPIN(oldPIN); err != nil {
		return err
	}
	v.closeMu.RLock()
	defer v.closeMu.RUnlock()
	if v.closed {
		return ErrClosed
	}
	v.hdrMu.Lock()
	defer v.hdrMu.Unlock()
	dk, err := unlock(ctx, v.opt.guard(v.dir), oldPIN, v.hdr, v.opt.Factors, false)
	if err != nil {
		return err
	}
	same := subtle.ConstantTimeCompare(dk.bytes(), v.dataKey.bytes()) == 1
	dk.wipe()
	if !same {
		return corrupt("header wraps a different data key")
	}
	if !replace {
		factors = v.opt.Factors
	}
	return v.rewrap(ctx, newPIN, factors)
}

// rewrap writes a header wrapping the data key under pin and factors.
func (v *Vault) rewrap(ctx context.Context, pin []byte, factors []Factor) error {
	names, err := factorNames(factors)
	if err != nil {
		return err
	}
	h := &header{state: stateActive, kdf: v.hdr.kdf, vaultID: v.hdr.vaultID, factors: names}
	if v.opt.KDF != (KDFParams{}) {
		h.kdf = v.opt.KDF
	}
	if err := h.kdf.check(cheapKDF.Load()); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	randomBytes(h.salt[:])
	kek, err := deriveKEK(ctx, pin, h, factors)
	if err != nil {
		return err
	}
	h.wrapped = seal(newAEAD(kek.bytes()), nil, v.dataKey.bytes(), h.wrapAD())
	kek.wipe()
	if err := writeFileAtomic(v.dir, headerFile, h.marshal()); err != nil {
		return err
	}
	v.hdr, v.opt.Factors = h, factors
	v.opt.Logger.Info("vault: re-wrapped the data key", "factors", len(names))
	return nil
}

// Close closes the database and zeroes the keys the Vault holds. Later
// calls return ErrClosed from every method but Close, which returns nil.
func (v *Vault) Close() error {
	v.closeMu.Lock()
	defer v.closeMu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	return v.shut()
}

// shut releases the database and keys.
func (v *Vault) shut() error {
	var err error
	if v.db != nil {
		v.closeStmts()
		err = dbErr("closing", v.db.Close())
	}
	if v.keys != nil {
		v.keys.wipe()
	}
	v.dataKey.wipe()
	return err
}
