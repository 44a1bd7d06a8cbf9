package drills

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/osdr/osdr/internal/testtool"
)

// cronJobs decodes every document of the example strictly into Kubernetes' own types, as the API server
// would: an unknown or misspelt field fails the test.
func cronJobs(t *testing.T) []batchv1.CronJob {
	t.Helper()
	raw, err := os.ReadFile("../examples/kubernetes/cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []batchv1.CronJob
	for i, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(raw), -1) {
		var cj batchv1.CronJob
		if err := yaml.UnmarshalStrict([]byte(doc), &cj); err != nil {
			t.Fatalf("document %d is not a CronJob Kubernetes accepts: %v", i+1, err)
		}
		if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" {
			t.Fatalf("document %d is a %s %s", i+1, cj.APIVersion, cj.Kind)
		}
		out = append(out, cj)
	}
	return out
}

// drillOf is the example drill file a container runs, by the path its arguments give.
func drillOf(t *testing.T, c corev1.Container) *Drill {
	t.Helper()
	i := slices.Index(c.Args, "run")
	if i < 0 || i+1 >= len(c.Args) {
		return nil
	}
	d, err := Load(filepath.Join("../examples/drills", filepath.Base(c.Args[i+1])), kinds)
	if err != nil {
		t.Fatalf("the drill container %s runs: %v", c.Name, err)
	}
	return d
}

// The CronJobs deploy on a cluster that enforces the restricted Pod Security Standard's container settings,
// can read their own secrets, run a pinned image within limits, and give a drill time to clean up.
func TestKubernetesCronJobsDeployAndCanReadTheirSecrets(t *testing.T) {
	jobs := cronJobs(t)
	if len(jobs) != 2 {
		t.Fatalf("%d CronJobs, want the drill and the snapshot", len(jobs))
	}
	for _, cj := range jobs {
		t.Run(cj.Name, func(t *testing.T) {
			if _, err := parseSchedule(cj.Spec.Schedule); err != nil {
				t.Errorf("schedule: %v", err)
			}
			if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("concurrencyPolicy %q: two runs could overlap", cj.Spec.ConcurrencyPolicy)
			}
			pod := cj.Spec.JobTemplate.Spec.Template.Spec
			sc := pod.SecurityContext
			if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.RunAsUser, 0) != 65534 || ptr.Deref(sc.RunAsGroup, 0) != 65534 ||
				ptr.Deref(sc.FSGroup, 0) != 65534 || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod securityContext %+v: want non-root 65534:65534, fsGroup 65534, seccomp RuntimeDefault", sc)
			}
			if ptr.Deref(pod.AutomountServiceAccountToken, true) {
				t.Error("the pod mounts a service account token osdr never uses")
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
				if s := v.Secret; s != nil {
					// fsGroup makes the files group 65534: 0440 lets osdr read them, and no one else.
					if mode := ptr.Deref(s.DefaultMode, corev1.SecretVolumeSourceDefaultMode); mode != 0o440 {
						t.Errorf("secret volume %s: defaultMode %#o, want 0440 so the pod's group can read it", v.Name, mode)
					}
				}
			}
			for _, c := range pod.Containers {
				if !regexp.MustCompile(`^[^:@]+:v[0-9][^:@]*@sha256:\S+$`).MatchString(c.Image) || strings.Contains(c.Image, ":latest") {
					t.Errorf("image %q: pin a version tag and a digest, never :latest", c.Image)
				}
				csc := c.SecurityContext
				if csc == nil || ptr.Deref(csc.AllowPrivilegeEscalation, true) || !ptr.Deref(csc.ReadOnlyRootFilesystem, false) ||
					csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("container %s securityContext %+v: want no privilege escalation, a read-only root, all capabilities dropped", c.Name, csc)
				}
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, limit := c.Resources.Requests[r], c.Resources.Limits[r]
					if req.IsZero() || limit.IsZero() || limit.Cmp(req) < 0 {
						t.Errorf("container %s: %s request %s, limit %s", c.Name, r, req.String(), limit.String())
					}
				}
				mounts := map[string]corev1.VolumeMount{}
				for _, m := range c.VolumeMounts {
					mounts[m.MountPath] = m
					v, ok := volumes[m.Name]
					if !ok {
						t.Errorf("mount %s: no volume %s", m.MountPath, m.Name)
					}
					if (v.Secret != nil || v.ConfigMap != nil) && !m.ReadOnly {
						t.Errorf("mount %s of volume %s is writable", m.MountPath, m.Name)
					}
				}
				d := drillOf(t, c)
				if d == nil {
					continue
				}
				grace := time.Duration(ptr.Deref(pod.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)) * time.Second
				if grace <= DefaultCleanup {
					t.Errorf("terminationGracePeriodSeconds gives %s: a drill needs more than %s to clean up after SIGTERM", grace, DefaultCleanup)
				}
				if d.Schedule != cj.Spec.Schedule {
					t.Errorf("the CronJob runs on %q, its drill %s says %q", cj.Spec.Schedule, d.Name, d.Schedule)
				}
				if dir := filepath.Dir(d.Reports.MetricsTextfile); d.Reports.MetricsTextfile != "" {
					if m, ok := mounts[dir]; !ok || m.ReadOnly || volumes[m.Name].HostPath == nil || volumes[m.Name].HostPath.Path != dir {
						t.Errorf("the drill writes its metrics to %s: mount the node's %s there, writable", d.Reports.MetricsTextfile, dir)
					}
				}
			}
		})
	}
}

// The cron example runs each drill when its drill file says.
func TestCronRunsDrillsOnTheirSchedule(t *testing.T) {
	f, err := os.Open("../examples/cron/osdr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	drillRun := regexp.MustCompile(`drill run (/etc/osdr/drills/\S+\.yaml)`)
	found := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		m := drillRun.FindStringSubmatch(s.Text())
		if m == nil || strings.HasPrefix(s.Text(), "#") {
			continue
		}
		found++
		fields := strings.Fields(s.Text())
		schedule := strings.Join(fields[:5], " ")
		d, err := Load(filepath.Join("../examples/drills", filepath.Base(m[1])), kinds)
		if err != nil {
			t.Fatal(err)
		}
		if d.Schedule != schedule {
			t.Errorf("cron runs %s on %q, the drill says %q", d.Name, schedule, d.Schedule)
		}
	}
	if found == 0 {
		t.Fatal("no drill in the cron example")
	}
}

// systemdUnit reads a unit's [Service] settings: every value of each key, in order.
func systemdUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]" && line != "" && !strings.HasPrefix(line, "#"):
			k, v, _ := strings.Cut(line, "=")
			out[k] = append(out[k], v)
		}
	}
	return out
}

// The services run as their own user in the sandbox systemd gives a network client that writes only its runs
// and metrics, and let a drill clean up before they are killed.
func TestSystemdServicesAreHardened(t *testing.T) {
	hardening := map[string]string{
		"User": "osdr", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallFilter": "@system-service", "CapabilityBoundingSet": "",
		"KillSignal": "SIGTERM",
	}
	for _, tc := range []struct {
		unit     string
		writes   []string
		stopping time.Duration
	}{
		{"osdr-drill@.service", []string{"-/var/lib/osdr/runs", "-/var/lib/node_exporter/textfile_collector"}, DefaultCleanup},
		{"osdr-snapshot.service", []string{"-/var/lib/osdr/runs"}, 0},
	} {
		t.Run(tc.unit, func(t *testing.T) {
			unit := systemdUnit(t, filepath.Join("../examples/systemd", tc.unit))
			for k, want := range hardening {
				if !slices.Equal(unit[k], []string{want}) {
					t.Errorf("%s=%q, want %q", k, unit[k], want)
				}
			}
			if got := strings.Fields(strings.Join(unit["ReadWritePaths"], " ")); !slices.Equal(got, tc.writes) {
				t.Errorf("ReadWritePaths %q, want %q", got, tc.writes)
			}
			stop, err := time.ParseDuration(strings.Join(unit["TimeoutStopSec"], ""))
			if err != nil || stop <= tc.stopping {
				t.Errorf("TimeoutStopSec=%q: want more than %s", unit["TimeoutStopSec"], tc.stopping)
			}
		})
	}
}

// systemd itself accepts the units: systemd-analyze verify reports nothing, not even a setting it ignores.
// The drill template is verified as an instance of itself, and ExecStart points at a stand-in osdr, since
// verify checks that the command exists.
func TestSystemdAcceptsTheUnits(t *testing.T) {
	analyze := testtool.Path(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	osdr := filepath.Join(dir, "osdr")
	if err := os.WriteFile(osdr, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	units, err := filepath.Glob("../examples/systemd/*")
	if err != nil || len(units) < 4 {
		t.Fatalf("units %v: %v", units, err)
	}
	args := []string{"verify", "--man=no"}
	for _, u := range units {
		raw, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Replace(filepath.Base(u), "@.", "@weekly-compute-1.", 1)
		out := filepath.Join(dir, name)
		if err := os.WriteFile(out, bytes.ReplaceAll(raw, []byte("/usr/local/bin/osdr"), []byte(osdr)), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, args...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
