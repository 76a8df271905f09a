package client

import (
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
)

// Device linking: a new device joins a user who is registered on another
// device, with the same identity, so contacts see no change.
//
//  1. The new device (created, not registered) calls LinkRequest and
//     shows the code, typically as a QR code: a fresh X25519 public key.
//  2. The registered device scans it and calls ApproveLink, which seals
//     the user ID and the identity secret to that key (X25519, HKDF-SHA256,
//     ChaCha20-Poly1305 under a one-time key) and shows the approval.
//  3. The new device scans the approval and calls Register with it.
//
// Neither code is secret on its own: only the new device can open the
// approval. But whoever shows the registered device a request code of
// their own gets the identity, so the user must scan the code from their
// own new device, in person. Verified flags and history stay on the old
// device.

// Link code formats.
const (
	linkRequestPrefix  = "parley-link-request-1:"
	linkApprovalPrefix = "parley-link-1:"
	linkVersion        = 1
	linkLabel          = "parley.dev/client/v1 device link"
	// maxLinkCode bounds the text of a link code before decoding.
	maxLinkCode = 512
)

// LinkRequest starts linking this device (created, not yet registered)
// to a user registered on another device: show the returned code to that
// device's ApproveLink, then Register with its approval. A new request
// replaces an earlier one.
func (c *Client) LinkRequest(ctx context.Context) (string, error) {
	v, err := c.vault()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	a := c.acct
	c.mu.Unlock()
	if a != nil && a.registered() {
		return "", ErrRegistered
	}
	if err := c.checkLinking(0); err != nil {
		return "", err
	}
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	if err := v.Put(nsAccount, keyLink, k.Bytes()); err != nil {
		return "", vaultErr(err)
	}
	return linkRequestPrefix + base64.RawURLEncoding.EncodeToString(append([]byte{linkVersion}, k.PublicKey().Bytes()...)), nil
}

// ApproveLink lets the device that made request join this user: it returns
// the approval to give that device's Register. Only approve a request you
// read from your own new device: the approval carries your identity key,
// sealed to the device that made the request.
func (c *Client) ApproveLink(ctx context.Context, request string) (string, error) {
	_, a, err := c.registered()
	if err != nil {
		return "", err
	}
	if err := c.checkLinking(0); err != nil {
		return "", err
	}
	peer, err := parseLinkRequest(request)
	if err != nil {
		return "", err
	}
	if p := c.policyNow(); p != nil && p.MaxDevices > 0 {
		devs, err := c.Devices(ctx)
		if err != nil {
			return "", err
		}
		if err := c.checkLinking(len(devs)); err != nil {
			return "", err
		}
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	aead, err := linkAEAD(eph, peer, peer.Bytes(), eph.PublicKey().Bytes())
	if err != nil {
		return "", err
	}
	var b cryptobyte.Builder
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(a.self().User)) })
	b.AddBytes(a.identity.MarshalSecret())
	pt := b.BytesOrPanic()
	defer clear(pt)
	out := append([]byte{linkVersion}, eph.PublicKey().Bytes()...)
	out = aead.Seal(out, make([]byte, chacha20poly1305.NonceSize), pt, linkAD(peer.Bytes(), eph.PublicKey().Bytes()))
	c.log.Info("device link approved")
	return linkApprovalPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

func parseLinkRequest(s string) (*ecdh.PublicKey, error) {
	b, err := decodeLinkCode(s, linkRequestPrefix)
	if err != nil || len(b) != 1+keys.X25519Size {
		return nil, fmt.Errorf("%w: not a link request code", ErrInvalid)
	}
	pub, err := keys.NewX25519Public(b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: link request: %v", ErrInvalid, err)
	}
	return pub, nil
}

func decodeLinkCode(s, prefix string) ([]byte, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(s) > maxLinkCode {
		return nil, errors.New("bad prefix or length")
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) == 0 || b[0] != linkVersion {
		return nil, errors.New("bad encoding or version")
	}
	return b, nil
}

// linkAEAD derives the one-time key of a link approval from the DH of
// priv and peer.
func linkAEAD(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, requestPub, approverPub []byte) (cipher.AEAD, error) {
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: link: %v", ErrInvalid, err)
	}
	defer clear(shared)
	key, err := hkdf.Key(sha256.New, shared, nil, string(linkAD(requestPub, approverPub)), chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return chacha20poly1305.New(key)
}

// linkAD binds the label and both public keys.
func linkAD(requestPub, approverPub []byte) []byte {
	ad := append([]byte(linkLabel+"\x00"), requestPub...)
	return append(ad, approverPub...)
}

// openLinkApproval opens an approval with this device's pending link key
// and returns the identity it carries, which must be user's.
func openLinkApproval(v *vault.Vault, user addr.UserID, link string) (*keys.Identity, error) {
	b, err := decodeLinkCode(link, linkApprovalPrefix)
	if err != nil || len(b) < 1+keys.X25519Size+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: not a link approval code", ErrInvalid)
	}
	secret, err := v.Get(nsAccount, keyLink)
	if notFound(err) {
		return nil, fmt.Errorf("%w: no link request pending on this device (call LinkRequest first)", ErrInvalid)
	}
	if err != nil {
		return nil, vaultErr(err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(secret)
	if err != nil {
		return nil, err
	}
	peer, err := keys.NewX25519Public(b[1 : 1+keys.X25519Size])
	if err != nil {
		return nil, fmt.Errorf("%w: link approval: %v", ErrInvalid, err)
	}
	aead, err := linkAEAD(priv, peer, priv.PublicKey().Bytes(), peer.Bytes())
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, make([]byte, chacha20poly1305.NonceSize), b[1+keys.X25519Size:],
		linkAD(priv.PublicKey().Bytes(), peer.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("%w: the link approval is not for this device's request", ErrInvalid)
	}
	defer clear(pt)
	return parseLinkPayload(pt, user)
}

func parseLinkPayload(pt []byte, user addr.UserID) (*keys.Identity, error) {
	s := cryptobyte.String(pt)
	var u cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&u) {
		return nil, fmt.Errorf("%w: malformed link approval", ErrInvalid)
	}
	if addr.UserID(u) != user {
		return nil, fmt.Errorf("%w: the link approval is for user %q, not %q", ErrInvalid, string(u), user)
	}
	id, err := keys.ParseIdentitySecret(s)
	if err != nil {
		return nil, fmt.Errorf("%w: link approval: %v", ErrInvalid, err)
	}
	return id, nil
}
