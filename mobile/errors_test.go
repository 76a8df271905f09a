package mobile

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"parley.dev/client"
)

// TestEveryCodeIsDocumented: an app developer branches on the codes the
// package doc lists, so each one the package can return is there, once.
func TestEveryCodeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range append(codesOf(), "relay", "internal") {
		if seen[c] {
			t.Errorf("code %q used twice", c)
		}
		seen[c] = true
		if !strings.Contains(string(doc), "//\tparley:"+c+" ") {
			t.Errorf("code parley:%s is not in the package doc", c)
		}
	}
}

func codesOf() []string {
	var out []string
	for _, c := range codes {
		out = append(out, c.code)
	}
	return out
}

func TestCodeIsTheMostSpecific(t *testing.T) {
	for err, want := range map[error]string{
		client.ErrRelayLocked:                                   "relay_locked", // also ErrWiped
		client.ErrRelayNeeded:                                   "relay_needed", // also ErrUnreachable
		fmt.Errorf("%w: schema 3", client.ErrVaultTooNew):       "vault_too_new",
		errors.Join(client.ErrQueued, client.ErrUnreachable):    "queued",
		&client.PINError{Err: client.ErrWrongPIN, Remaining: 3}: "wrong_pin",
		&client.RelayError{Code: "mailbox-full"}:                "relay",
		&client.PolicyError{Rule: client.RuleAttachments}:       "policy",
		errors.New("something else"):                            "internal",
	} {
		got := wrap(err)
		if !strings.HasPrefix(got.Error(), "parley:"+want+": ") || !errors.Is(got, err) {
			t.Errorf("wrap(%v) = %v, want code %s", err, got, want)
		}
	}
	if wrap(nil) != nil {
		t.Error("wrap(nil) is not nil")
	}
}

// TestTimeoutsAreDocumented: the package doc names every method of
// Client that takes timeoutMs among those that do, and every other among
// those that take none (or as the live connection's or Cancel).
func TestTimeoutsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(strings.ReplaceAll(string(doc), "//", "")), " ")
	section := func(from, to string) string {
		i := strings.Index(text, from)
		j := strings.Index(text[i+1:], to)
		if i < 0 || j < 0 {
			t.Fatalf("the doc has no %q ... %q", from, to)
		}
		return text[i : i+1+j]
	}
	timed := section("take timeoutMs", "Methods that read")
	untimed := section("Methods that read", "# Lifecycle")
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pkgs["mobile"].Files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); !ok || star.X.(*ast.Ident).Name != "Client" {
				continue
			}
			name, params := fn.Name.Name, fn.Type.Params.List
			takes := len(params) > 0 && params[len(params)-1].Names[len(params[len(params)-1].Names)-1].Name == "timeoutMs"
			word := regexp.MustCompile(`\b` + name + `\b`)
			in := func(list string) bool { return word.MatchString(list) }
			switch {
			case takes && !in(timed):
				t.Errorf("%s takes timeoutMs but the doc does not list it so", name)
			case !takes && !in(untimed) && !in(section("Client.Cancel", "# Lifecycle")):
				t.Errorf("%s takes no timeout but the doc does not say so", name)
			}
		}
	}
}
