// Hygiene rules for the whole module, enforced as ordinary tests: import
// boundaries between packages (docs/architecture.md) and a doc comment on
// every package.
package parley_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "parley.dev"

type pkgInfo struct {
	ImportPath string
	Doc        string
	Name       string
	Deps       []string // transitive
	Imports    []string // direct
	GoFiles    []string
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// cryptoPkgs import only the standard library, x/crypto and each other.
var cryptoPkgs = []string{"internal/keys", "internal/pqxdh", "internal/ratchet", "internal/session", "internal/safety", "internal/vault", "internal/stream", "internal/unlock", "internal/group"}

// cryptoExtras are the only imports beyond the standard library, x/crypto
// and parley.dev/internal that a crypto package may have: the vault its
// SQLite driver, the relay factor circl's RFC 9497 OPRF.
var cryptoExtras = map[string]string{
	"internal/vault":  "github.com/ncruces/go-sqlite3",
	"internal/unlock": "github.com/cloudflare/circl",
}

// forbidden maps a package (and its subpackages) to imports it must never
// reach, directly or transitively.
var forbidden = map[string][]string{
	"client": {"parley.dev/server", "parley.dev/internal/store", "parley.dev/internal/fanout",
		"github.com/jackc/pgx", "github.com/nats-io"},
	"mobile": {"parley.dev/server", "parley.dev/internal/store", "parley.dev/internal/fanout",
		"github.com/jackc/pgx", "github.com/nats-io", "golang.org/x/mobile"},
	"server": {"parley.dev/internal/ratchet", "parley.dev/internal/pqxdh",
		"parley.dev/internal/session", "parley.dev/internal/vault", "parley.dev/internal/group", "parley.dev/client"},
	"cmd/parleyd": {"parley.dev/internal/ratchet", "parley.dev/internal/pqxdh",
		"parley.dev/internal/session", "parley.dev/internal/vault", "parley.dev/internal/group", "parley.dev/client"},
}

func under(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for pkg, bans := range forbidden {
			if !under(rel, pkg) {
				continue
			}
			for _, d := range p.Deps {
				for _, ban := range bans {
					if under(d, ban) {
						t.Errorf("%s imports %s (via its dependencies); forbidden by docs/architecture.md", p.ImportPath, d)
					}
				}
			}
		}
		for _, c := range cryptoPkgs {
			if rel != c {
				continue
			}
			for _, imp := range p.Imports {
				if extra, ok := cryptoExtras[rel]; !allowedInCrypto(imp) && !(ok && under(imp, extra)) {
					t.Errorf("%s imports %s; crypto packages use only the standard library, x/crypto and parley.dev/internal (the vault also its SQLite driver, the relay factor circl)", p.ImportPath, imp)
				}
			}
		}
	}
}

func allowedInCrypto(imp string) bool {
	if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
		return true // standard library
	}
	return under(imp, "golang.org/x/crypto") || under(imp, module+"/internal")
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // test-only directory, such as the module root
		}
		if p.Name == "main" {
			if !strings.HasPrefix(p.Doc, "Parley") && !strings.HasPrefix(p.Doc, "Command ") {
				t.Errorf("%s: command doc should start with \"Command <name>\"; got %q", p.ImportPath, p.Doc)
			}
			continue
		}
		if !strings.HasPrefix(p.Doc, "Package "+p.Name+" ") {
			t.Errorf("%s: missing package doc comment starting \"Package %s \"", p.ImportPath, p.Name)
		}
	}
}
