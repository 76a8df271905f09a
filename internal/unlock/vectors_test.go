package unlock

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"
)

// Known-answer vectors of this package's own derivations (the OPRF itself
// is checked against RFC 9497 in TestRFC9497Vectors), from fixed inputs.
// Regenerate with: go test ./internal/unlock -run Vectors -update

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

type derivationVectors struct {
	CredentialSeed, CredentialID     hexBytes
	OPRFOutput, Secret, Verifier     hexBytes
	Failures                         uint32
	LastEvalMicros, LastSuccessMicro int64
	Challenge, Proof                 hexBytes
	Blinded, EvaluateSignature       hexBytes
	FactorName                       string
}

func computeVectors(t *testing.T) derivationVectors {
	seed := bytes.Repeat([]byte{0x42}, SeedSize)
	cred, err := NewCredential(seed)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]byte, OutputSize)
	for i := range y {
		y[i] = byte(i)
	}
	out := newOutput(cred.ID(), y)
	s := State{Failures: 3, LastEval: time.UnixMicro(1_900_000_000_123_456), LastSuccess: time.UnixMicro(1_899_999_000_000_001)}
	ch := s.Challenge(cred.ID())
	p := out.Proof(ch)
	blinded := Element{0x0b, 0x0c}
	sig := cred.SignEvaluate(ch, blinded)
	id := cred.ID()
	return derivationVectors{
		CredentialSeed: seed, CredentialID: id[:],
		OPRFOutput: y, Secret: out.Secret(), Verifier: out.Verifier(),
		Failures: s.Failures, LastEvalMicros: s.LastEval.UnixMicro(), LastSuccessMicro: s.LastSuccess.UnixMicro(),
		Challenge: ch[:], Proof: p[:], Blinded: blinded[:], EvaluateSignature: sig[:],
		FactorName: id.FactorName(),
	}
}

func TestVectors(t *testing.T) {
	got := computeVectors(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	var want derivationVectors
	readJSON(t, vectorsFile, &want)
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("derivations changed (a protocol change needs a new version and new labels):\n got %s\nwant %s", gb, wb)
	}
}
