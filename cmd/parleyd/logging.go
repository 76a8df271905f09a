package main

import (
	"io"
	"log/slog"
)

// Log formats (--log-format).
const (
	logText = "text"
	logJSON = "json"
)

// newLogger makes the relay's logger: slog's text handler by default, its
// JSON handler (one object a line, for a log shipper) with --log-format
// json. What the relay logs never carries envelope bytes, keys, proofs,
// tokens or PINs (server.Server.Logger); the format changes nothing of
// that.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opt := &slog.HandlerOptions{Level: level}
	if format == logJSON {
		return slog.New(slog.NewJSONHandler(w, opt))
	}
	return slog.New(slog.NewTextHandler(w, opt))
}
