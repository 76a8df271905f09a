package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// File is the JSON form an administrator writes and `parleyd policy sign`
// reads. Times are whole seconds; absent fields are "no rule", except the
// booleans allowing something, which must be given.
type File struct {
	Version         uint64   `json:"version"`
	MinPINDigits    int      `json:"min_pin_digits,omitempty"`
	MinPassphrase   int      `json:"min_passphrase,omitempty"`
	RequiredFactors []string `json:"required_factors,omitempty"`
	RetentionDays   int      `json:"retention_days,omitempty"`
	DefaultTimer    int64    `json:"default_timer_seconds,omitempty"`
	MaxTimer        int64    `json:"max_timer_seconds,omitempty"`
	Attachments     *bool    `json:"attachments"`
	MaxAttachment   int64    `json:"max_attachment_bytes,omitempty"`
	MaxDevices      int      `json:"max_devices,omitempty"`
	Linking         *bool    `json:"linking"`
	Screenshots     *bool    `json:"screenshots"`
	Backups         *bool    `json:"backups"`
}

// ParseFile reads the JSON form; issued is the signing time.
func ParseFile(b []byte, issued time.Time) (*Policy, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var f File
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if f.Attachments == nil || f.Linking == nil || f.Screenshots == nil || f.Backups == nil {
		return nil, fmt.Errorf("%w: attachments, linking, screenshots and backups must each be true or false", ErrMalformed)
	}
	if f.DefaultTimer < 0 || f.DefaultTimer > MaxTimer || f.MaxTimer < 0 || f.MaxTimer > MaxTimer {
		return nil, fmt.Errorf("%w: timer out of range", ErrMalformed)
	}
	p := &Policy{Version: f.Version, Issued: issued.Truncate(time.Second), MinPINDigits: f.MinPINDigits,
		MinPassphrase: f.MinPassphrase, RequiredFactors: f.RequiredFactors, RetentionDays: f.RetentionDays,
		DefaultTimer: time.Duration(f.DefaultTimer) * time.Second, MaxTimer: time.Duration(f.MaxTimer) * time.Second,
		Attachments: *f.Attachments, MaxAttachment: f.MaxAttachment, MaxDevices: f.MaxDevices,
		Linking: *f.Linking, ScreenshotsAllow: *f.Screenshots, BackupsAllow: *f.Backups}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}
