package settings

import "github.com/osdr/osdr/internal/run"

const defaultRunsDir = "osdr-runs"

func (r *resolution) runs() (run.Store, error) {
	dir, source, err := r.pickPath("runs directory", r.flags.RunsDir, FlagRunsDir, EnvRunsDir)
	switch {
	case err != nil:
		return run.Store{}, err
	case dir == "":
		return run.Store{Dir: defaultRunsDir, Source: "default"}, nil
	}
	return run.Store{Dir: dir, Source: source}, nil
}
