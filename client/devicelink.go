package client

import (
	"fmt"

	"parley.dev/internal/addr"
	"parley.dev/internal/keys"
	"parley.dev/internal/vault"
)

func openLinkApproval(v *vault.Vault, user addr.UserID, link string) (*keys.Identity, error) {
	return nil, fmt.Errorf("%w: device linking is not implemented yet", ErrInvalid)
}
