package settings

import "testing"

func TestRunsDirPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "osdr-runs"},
		{"environment", nil, map[string]string{EnvRunsDir: "/var/lib/osdr"}, "/var/lib/osdr"},
		{"flag over environment", []string{"--runs-dir", "/srv/runs"}, map[string]string{EnvRunsDir: "/var/lib/osdr"}, "/srv/runs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustResolve(t, tt.args, tt.env).Runs.Dir; got != tt.want {
				t.Errorf("runs dir = %q, want %q", got, tt.want)
			}
		})
	}
}
