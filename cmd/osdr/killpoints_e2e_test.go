package main

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osdr/osdr/recover"
	"github.com/osdr/osdr/testenv/sim"
)

// envKillPoints asks for TestKillPointsAtScale: how many seeded kill points to try (`make kill-points`). It
// takes about a minute per point at 1,000 instances, so CI runs the small every-point test instead.
const (
	envKillPoints    = "OSDR_KILL_POINTS"
	envKillInstances = "OSDR_KILL_INSTANCES"
	envKillSeed      = "OSDR_KILL_SEED"
)

// A recovery of a big cloud killed as `kill -9` would at seeded journal points, then resumed: every instance
// is HARD-rebooted exactly once per recovery, across the kill, and the run ends succeeded. One cloud serves
// every point: each point cuts its power again, so each recovery starts from the same picture.
func TestKillPointsAtScale(t *testing.T) {
	points := envInt(t, envKillPoints, 0)
	if points == 0 {
		t.Skipf("set %s (make kill-points) to kill a large recovery at seeded points", envKillPoints)
	}
	instances := envInt(t, envKillInstances, 1000)
	seed := envInt(t, envKillSeed, 1)
	const limit = 30 * time.Minute
	s := startSim(t, "2024.1", sim.Shape{Hosts: max(1, instances/10), Instances: instances, VolumesPerInstance: 2, Seed: int64(seed)})
	recoverAll := []string{"recover", "--all", "--reboot-timeout", "10m", "--attach-timeout", "10m", "--guest-timeout", "10m"}

	// A whole run tells how many journal points there are.
	mark := len(s.Cloud.AuditLog())
	powerCut(t, s)
	if out, code := osdrProcessWithin(t, limit, recoverAll...); code != 0 {
		t.Fatalf("recover: exit %d\n%s", code, out)
	}
	entries, err := recover.ReadJournal(runOf(newestRun(t)))
	if err != nil {
		t.Fatal(err)
	}
	expectOneRebootEach(t, s, mark)

	rng := rand.New(rand.NewPCG(uint64(seed), 0xc1a5))
	var killed string
	for p := range points {
		point := 1 + rng.IntN(len(entries)-1)
		mark := len(s.Cloud.AuditLog())
		powerCut(t, s)
		t.Setenv(envCrashAfter, strconv.Itoa(point))
		out, code := osdrProcessWithin(t, limit, recoverAll...)
		os.Unsetenv(envCrashAfter)
		if code != 137 {
			t.Fatalf("point %d of %d: the run was not killed after entry %d (exit %d)\n%s", p+1, points, point, code, out)
		}
		killed = newestRun(t)
		if out, code := osdrProcessWithin(t, limit, "recover", "--resume", killed); code != 0 {
			t.Fatalf("point %d of %d: resume after entry %d: exit %d\n%s", p+1, points, point, code, out)
		}
		if m, err := runOf(killed).ReadMeta(); err != nil || m.Status != "succeeded" {
			t.Fatalf("point %d of %d: the resumed run is recorded as %+v (%v), want succeeded", p+1, points, m, err)
		}
		expectOneRebootEach(t, s, mark)
		t.Logf("point %d of %d: killed after journal entry %d of %d, resumed, one reboot each", p+1, points, point, len(entries))
	}
	if out, code := osdrProcessWithin(t, limit, "verify", "--manifest", runOf(killed).Manifest(), "--run", killed, "--deadline", "10m"); code != 0 {
		t.Fatalf("verify after the last point: exit %d\n%s", code, out)
	}
}

// expectOneRebootEach checks that nova-compute carried out exactly one reboot of each of the cloud's
// instances, a HARD one, since the audit log held mark entries, and rebooted nothing else.
func expectOneRebootEach(t *testing.T, s *sim.Sim, mark int) {
	t.Helper()
	entries := s.Cloud.AuditLog()[mark:]
	reboots := rebootsPerInstance(entries)
	for _, inst := range s.Topology.Instances {
		if n := reboots[inst.ID]; n != 1 {
			t.Errorf("instance %s was rebooted %d times by one recovery", inst.ID, n)
		}
		delete(reboots, inst.ID)
	}
	for id, n := range reboots {
		t.Errorf("%s, not an instance of the cloud, was rebooted %d times", id, n)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Caller, "nova-compute@") && e.Operation == "reboot" && e.Detail != "HARD" {
			t.Errorf("nova-compute carried out a %s reboot of %s, want HARD", e.Detail, e.Target)
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	text := os.Getenv(name)
	if text == "" {
		return def
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 {
		t.Fatalf("$%s=%q is not a number", name, text)
	}
	return n
}
