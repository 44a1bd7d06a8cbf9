package testenv

import (
	"context"
	"database/sql"
	"testing"
)

// The simulation and the demo run on machines with neither Docker nor MySQL; the embedded server must accept
// the real schemas and answer the queries the simulated APIs make, even though it cannot roll back.
func TestEmbeddedServerServesTheSchemas(t *testing.T) {
	ctx := context.Background()
	srv, err := startEmbedded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	if srv.Kind() != KindEmbedded {
		t.Fatalf("kind = %s", srv.Kind())
	}
	for _, schema := range []Schema{SchemaCinder, SchemaCinderLegacy, SchemaNova} {
		t.Run(string(schema), func(t *testing.T) {
			d, err := srv.NewDatabase(ctx, "embedded")
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("mysql", d.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := LoadSchema(ctx, db, schema); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n < 20 {
				t.Errorf("information_schema lists %d columns for %s", n, schema)
			}
		})
	}
}
