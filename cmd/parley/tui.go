package main

// This file holds the CLI's rules for talking to its user, after age's
// cmd/age/tui.go:
//
//   - Results go to standard output: text lines by default, one JSON object
//     per line with --json. Nothing else goes there, so output can be piped.
//   - Everything else (notes, warnings, errors) goes to standard error with a
//     "parley: " prefix, no capital initial and no final period.
//   - An error is one "parley: error: ..." line, followed by "parley: hint: ..."
//     lines saying what to do next, and a non-zero exit status.
//   - The PIN is asked for on the terminal (/dev/tty) without echo, never on
//     standard input or output; PARLEY_PIN replaces it for scripts.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"parley.dev/client"
)

// hintError is an error with next steps for the user.
type hintError struct {
	err   error
	hints []string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// withHints attaches next steps to err.
func withHints(err error, hints ...string) error {
	return &hintError{err: err, hints: hints}
}

// report prints err, if any, in the CLI's style and returns the exit status.
func report(stderr io.Writer, err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSilentUsage):
		return exitUsage
	case errors.Is(err, errHelped):
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		errorf(stderr, "%s", ue.msg)
		hintf(stderr, "run \"parley help\" for usage")
		return exitUsage
	}
	msg, hints := explain(err)
	errorf(stderr, "%s", msg)
	for _, h := range hints {
		hintf(stderr, "%s", h)
	}
	return exitError
}

func errorf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "parley: error: "+format+"\n", a...)
}

func hintf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "parley: hint: "+format+"\n", a...)
}

// notef prints a note on standard error.
func (c *cli) notef(format string, a ...any) {
	fmt.Fprintf(c.stderr, "parley: "+format+"\n", a...)
}

// emit prints one result: v as a JSON line with --json, else text.
func (c *cli) emit(v any, text string) error {
	if c.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintln(c.stdout, text)
	return err
}

// statusLine is a line on standard error redrawn in place (progress of a
// long command): shown only when standard error is a terminal and never
// with --json, and cleared at the end so that it leaves nothing behind.
type statusLine struct {
	w     io.Writer // nil: not shown
	drawn bool
}

func (c *cli) statusLine() *statusLine {
	s := &statusLine{}
	if f, ok := c.stderr.(*os.File); ok && !c.json && term.IsTerminal(int(f.Fd())) {
		s.w = f
	}
	return s
}

// shown reports whether the line is drawn at all.
func (s *statusLine) shown() bool { return s.w != nil }

// show redraws the line as "parley: " and the text.
func (s *statusLine) show(format string, a ...any) {
	if s.w != nil {
		fmt.Fprintf(s.w, "\r\x1b[Kparley: "+format, a...)
		s.drawn = true
	}
}

// clear erases the line, if drawn.
func (s *statusLine) clear() {
	if s.drawn {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.drawn = false
	}
}

// errNoTerminal: neither PARLEY_PIN nor a terminal to ask on.
var errNoTerminal = errors.New("no terminal to ask for the PIN")

// pin returns the PIN from PARLEY_PIN or, failing that, asks on the terminal.
func (c *cli) pin(prompt string) ([]byte, error) {
	if p := c.getenv(envPIN); p != "" {
		return []byte(p), nil
	}
	return askTerminal(prompt)
}

// newPIN returns a new PIN: the environment variable env (PARLEY_PIN, or
// PARLEY_NEW_PIN when changing it), or asked twice on the terminal.
func (c *cli) newPIN(env, prompt string) ([]byte, error) {
	if p := c.getenv(env); p != "" {
		return []byte(p), nil
	}
	first, err := askTerminal(prompt)
	if err != nil {
		return nil, err
	}
	if len(first) == 0 {
		return nil, withHints(errors.New("the PIN is empty"), "choose "+client.PINPolicy{}.Describe())
	}
	second, err := askTerminal("Repeat the PIN: ")
	if err != nil {
		return nil, err
	}
	defer clear(second)
	if !bytes.Equal(first, second) {
		clear(first)
		return nil, withHints(errors.New("the PINs did not match"), "run the command again")
	}
	return first, nil
}

// askTerminal prints prompt on the terminal and reads a line without echo.
func askTerminal(prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, withHints(errNoTerminal,
			"run parley in a terminal, or set PARLEY_PIN for scripts (less safe: the environment is visible to your other programs)")
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading the PIN: %w", err)
	}
	return p, nil
}
