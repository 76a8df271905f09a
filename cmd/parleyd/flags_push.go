package main

import (
	"flag"
	"os"
	"strings"
	"time"

	"parley.dev/internal/push"
	"parley.dev/server"
)

// pushFlags are the push wake-up settings: --push-gateway, --push-secret,
// --push-window.
type pushFlags struct {
	gateway, secret string
	window          time.Duration
}

func (p *pushFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.gateway, "push-gateway", "", "")
	fs.StringVar(&p.secret, "push-secret", "", "")
	fs.DurationVar(&p.window, "push-window", server.DefaultPushWindow, "")
}

func (p *pushFlags) check() error {
	switch {
	case p.gateway == "" && p.secret != "":
		return usagef("--push-secret without --push-gateway")
	case p.gateway == "":
		return nil
	case p.window <= 0:
		return usagef("--push-window must be positive")
	}
	if _, err := p.secretBytes(); err != nil {
		return err
	}
	return nil
}

// secretBytes reads the secret: the value itself, or with a leading "@"
// the contents of that file (trailing newline dropped).
func (p *pushFlags) secretBytes() ([]byte, error) {
	s := p.secret
	if name, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, usagef("--push-secret: %v", err)
		}
		s = strings.TrimRight(string(b), "\r\n")
	}
	if len(s) < push.MinSecret {
		return nil, usagef("--push-gateway needs --push-secret of at least %d bytes (make one with \"openssl rand -hex 32\")", push.MinSecret)
	}
	return []byte(s), nil
}

func (p *pushFlags) apply(s *server.Server) error {
	if p.gateway == "" {
		return nil
	}
	secret, err := p.secretBytes()
	if err != nil {
		return err
	}
	s.PushGateway, s.PushSecret, s.PushWindow = p.gateway, secret, p.window
	return nil
}
