package settings

import "github.com/osdr/osdr/internal/run"

const defaultRunsDir = "osdr-runs"

func (r *resolution) runs() run.Store {
	dir, source := r.pick(r.flags.RunsDir, FlagRunsDir, EnvRunsDir)
	if dir == "" {
		return run.Store{Dir: defaultRunsDir, Source: "default"}
	}
	return run.Store{Dir: dir, Source: source}
}
