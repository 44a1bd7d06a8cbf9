package drills

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParseDrill: whatever a drill file holds, Parse returns a drill or the problems it found, each with a
// message, never a panic; a drill it accepts, written out again by its documented field names, parses to the
// same drill.
func FuzzParseDrill(f *testing.F) {
	examples, err := filepath.Glob("../examples/drills/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(examples, "testdata/valid.yaml") {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(largeDrill(3, 2)))
	f.Add([]byte("apiVersion: osdr.dev/v1\nkind: Drill\nname: a\nguards: &g {staging: true}\ncopy: *g\n"))
	f.Add([]byte("recovery: {concurrency: 2.5, apiRate: -1, timeout: -5m}\nverification: {deadline: 1y}\nschedule: \"@every 0s\"\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("name: \"\\e[31mred\"\ntargets: {instances: [\"../../etc/passwd\"]}\nreports: {pushgateway: \"https://user:pw@push.example.net\"}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := Parse("drill.yaml", raw, kinds)
		if err != nil {
			var invalid *ValidationError
			if d != nil || !errors.As(err, &invalid) || len(invalid.Problems) == 0 {
				t.Fatalf("Parse = %v, %v: want no drill and a ValidationError with problems", d, err)
			}
			for _, p := range invalid.Problems {
				if p.Message == "" {
					t.Fatalf("a problem without a message in %v", err)
				}
			}
			return
		}
		written, err := yaml.Marshal(d)
		if err != nil {
			t.Fatalf("the drill cannot be written out: %v", err)
		}
		again, err := Parse("again.yaml", written, kinds)
		if err != nil {
			t.Fatalf("the drill written out does not parse: %v\n%s", err, written)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("the drill written out parses differently:\n%+v\n%+v\n%s", d, again, written)
		}
	})
}
