package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

// openstackCLI runs the real OpenStack client (Debian's python3-openstackclient) against the cloud.
type openstackCLI struct {
	path string
	env  []string
}

func newOpenstackCLI(t *testing.T, f *cloudtest.Fixture) openstackCLI {
	t.Helper()
	path, err := exec.LookPath("openstack")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatalf("CI needs the openstack CLI (apt-get install python3-openstackclient): %v", err)
		}
		t.Skipf("the openstack CLI is not installed (apt-get install python3-openstackclient): %v", err)
	}
	admin := f.Cloud.Admin()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"OS_AUTH_URL=" + f.Cloud.Endpoints().Identity,
		"OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME=" + admin.UserName,
		"OS_PASSWORD=" + admin.Password,
		"OS_PROJECT_NAME=" + admin.ProjectName,
		"OS_USER_DOMAIN_NAME=Default",
		"OS_PROJECT_DOMAIN_NAME=Default",
		"OS_REGION_NAME=RegionOne",
		"OS_INTERFACE=public",
	}
	return openstackCLI{path: path, env: env}
}

// run returns the command's stdout, failing the test when it does not exit 0.
func (o openstackCLI) run(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, err := o.try(t, args...)
	if err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return stdout
}

func (o openstackCLI) try(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.path, args...)
	cmd.Env = o.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (o openstackCLI) json(t *testing.T, v any, args ...string) {
	t.Helper()
	out := o.run(t, append(args, "-f", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("openstack %s: decode %q: %v", strings.Join(args, " "), out, err)
	}
}

// The real OpenStack CLI (Debian's python3-openstackclient, a Zed-era release) works against the cloud and
// gets the answers a real cloud gives, refusals included.
func TestOpenstackCLI(t *testing.T) {
	t.Parallel()
	f := cloudtest.New(t, cloud.Config{})
	topo := f.Provision(t, cloudtest.StandardTopology())
	cli := newOpenstackCLI(t, f)
	vm1, vm2 := topo.Instances[0], topo.Instances[1]

	var list []map[string]any
	cli.json(t, &list, "server", "list", "--all-projects", "--long")
	var rows []string
	for _, s := range list {
		rows = append(rows, fmt.Sprint(s["Name"], " ", s["Status"], " ", s["Power State"], " ", s["Host"], " ",
			s["Image Name"], " ", s["Flavor Name"], " ", s["Networks"]))
	}
	wantRows := []string{
		"vm3 ACTIVE 1 compute-2 cirros-0.6.2-x86_64-disk m1.tiny map[]",
		"vm2 SHUTOFF 4 compute-1 N/A (booted from volume) m1.tiny map[]",
		"vm1 ACTIVE 1 compute-1 cirros-0.6.2-x86_64-disk m1.tiny map[private:[10.0.0.5 172.24.4.20]]",
	}
	if !slices.Equal(rows, wantRows) {
		t.Errorf("server list:\n%q\nwant\n%q", rows, wantRows)
	}

	var show map[string]any
	cli.json(t, &show, "server", "show", vm1.ID)
	for k, want := range map[string]any{
		"status": "ACTIVE", "OS-EXT-SRV-ATTR:host": "compute-1", "OS-EXT-SRV-ATTR:instance_name": "instance-00000001",
		"flavor": "m1.tiny (1)", "volumes_attached": []any{map[string]any{"id": vm1.Volumes[0].ID}},
	} {
		if diff := cmp.Diff(want, show[k]); diff != "" {
			t.Errorf("server show %s (-want +got):\n%s", k, diff)
		}
	}

	// The CLI reboots SOFT by default, which Nova refuses for a stopped server; HARD brings it up.
	_, stderr, err := cli.try(t, "server", "reboot", vm2.ID)
	if err == nil || !strings.Contains(stderr, "Cannot 'reboot' instance "+vm2.ID+" while it is in vm_state stopped (HTTP 409)") {
		t.Errorf("soft reboot of a stopped server: %v %s", err, stderr)
	}
	cli.run(t, "server", "reboot", "--hard", "--wait", vm2.ID)
	if got := f.State(t, vm2.ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
		t.Errorf("after reboot --hard --wait: %+v", got)
	}

	cli.run(t, "server", "stop", vm1.ID)
	f.Settle()
	if got := f.State(t, vm1.ID); got != (cloudtest.ServerState{VM: "stopped", Task: "", Power: 4}) {
		t.Errorf("after server stop: %+v", got)
	}
	cli.run(t, "server", "start", vm1.ID)
	f.Settle()
	if got := f.State(t, vm1.ID); got != (cloudtest.ServerState{VM: "active", Task: "", Power: 1}) {
		t.Errorf("after server start: %+v", got)
	}
	if _, stderr, err := cli.try(t, "server", "start", vm1.ID); err == nil ||
		!strings.Contains(stderr, "Cannot 'start' instance "+vm1.ID+" while it is in vm_state active (HTTP 409)") {
		t.Errorf("start of an active server: %v %s", err, stderr)
	}

	// Every request that changed an instance is an action, newest first; its events say how compute fared.
	var actions []string
	for _, e := range cliEvents(t, cli, vm1.ID) {
		actions = append(actions, fmt.Sprint(e["Action"]))
	}
	if !slices.Equal(actions, []string{"start", "stop"}) {
		t.Errorf("server event list %s: actions %q, want start, stop", vm1.ID, actions)
	}
	var event map[string]any
	cli.json(t, &event, "server", "event", "show", vm2.ID, fmt.Sprint(cliEvents(t, cli, vm2.ID)[0]["Request ID"]))
	steps, _ := event["events"].([]any)
	if event["action"] != "reboot" || len(steps) != 1 || steps[0].(map[string]any)["event"] != "compute_reboot_instance" ||
		steps[0].(map[string]any)["result"] != "Success" {
		t.Errorf("server event show of the hard reboot: %v", event)
	}

	var vols []map[string]any
	cli.json(t, &vols, "volume", "list", "--all-projects", "--long")
	var volRows []string
	for _, v := range vols {
		attached, _ := v["Attached to"].([]any)
		var servers []string
		for _, a := range attached {
			servers = append(servers, fmt.Sprint(a.(map[string]any)["server_id"], "@", a.(map[string]any)["device"]))
		}
		volRows = append(volRows, fmt.Sprint(v["Name"], " ", v["Status"], " ", v["Type"], " ", v["Bootable"], " ", servers))
	}
	sort.Strings(volRows)
	wantVols := []string{
		fmt.Sprintf("vm1-data in-use __DEFAULT__ false [%s@/dev/vdb]", vm1.ID),
		fmt.Sprintf("vm2-boot in-use __DEFAULT__ true [%s@/dev/vda]", vm2.ID),
		fmt.Sprintf("vm2-data in-use ceph false [%s@/dev/vdb]", vm2.ID),
		fmt.Sprintf("vm3-data in-use nfs false [%s@/dev/vdb]", topo.Instances[2].ID),
	}
	if !slices.Equal(volRows, wantVols) {
		t.Errorf("volume list:\n%q\nwant\n%q", volRows, wantVols)
	}

	var vshow map[string]any
	cli.json(t, &vshow, "volume", "show", vm1.Volumes[0].ID)
	for k, want := range map[string]any{
		"status": "in-use", "bootable": "false", "os-vol-host-attr:host": "controller@lvm#lvm", "size": float64(2),
	} {
		if diff := cmp.Diff(want, vshow[k]); diff != "" {
			t.Errorf("volume show %s (-want +got):\n%s", k, diff)
		}
	}

	cli.run(t, "volume", "set", "--state", "available", vm1.Volumes[0].ID)
	cli.json(t, &vshow, "volume", "show", vm1.Volumes[0].ID)
	if vshow["status"] != "available" {
		t.Errorf("after volume set --state available: %v", vshow["status"])
	}
}

func cliEvents(t *testing.T, cli openstackCLI, server string) []map[string]any {
	t.Helper()
	var events []map[string]any
	cli.json(t, &events, "server", "event", "list", server)
	if len(events) == 0 {
		t.Fatalf("server event list %s: no actions", server)
	}
	return events
}

// On every profile the CLI detaches and reattaches a volume through Nova, gets Nova's refusal of a volume that
// is attached elsewhere, and lists the volumes with what they are attached to.
func TestOpenstackCLIVolumeAttachments(t *testing.T) {
	t.Parallel()
	for _, profile := range cloud.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			f := cloudtest.New(t, cloud.Config{Profile: profile})
			topo := f.Provision(t, cloudtest.StandardTopology())
			cli := newOpenstackCLI(t, f)
			vm1, vm3 := topo.Instances[0], topo.Instances[2]
			vol := vm1.Volumes[0]

			cli.run(t, "server", "remove", "volume", vm1.ID, vol.ID)
			f.Settle()
			if status, _ := f.VolumeRow(t, vol.ID); status != "available" {
				t.Errorf("after server remove volume: %s", status)
			}
			var added map[string]any
			cli.json(t, &added, "server", "add", "volume", vm1.ID, vol.ID, "--device", "/dev/vdb")
			if added["Device"] != "/dev/vdb" || added["Server ID"] != vm1.ID || added["Volume ID"] != vol.ID {
				t.Errorf("server add volume printed %v", added)
			}
			f.Settle()
			_, stderr, err := cli.try(t, "server", "add", "volume", vm3.ID, vol.ID)
			// The CLI attaches through openstacksdk, which reports a refusal as BadRequestException.
			if want := "BadRequestException: 400: Client Error for url: " + f.Cloud.Endpoints().Compute + "/servers/" + vm3.ID +
				"/os-volume_attachments, Invalid volume: volume " + vol.ID + " is already attached to instances: " + vm1.ID; err == nil ||
				!strings.Contains(stderr, want) {
				t.Errorf("attach of a volume attached elsewhere: %v %s", err, stderr)
			}

			var vols []map[string]any
			cli.json(t, &vols, "volume", "list", "--all-projects", "--long")
			var rows []string
			for _, v := range vols {
				attached, _ := v["Attached to"].([]any)
				for _, a := range attached {
					rows = append(rows, fmt.Sprint(v["Name"], " ", v["Status"], " ", a.(map[string]any)["server_id"], "@",
						a.(map[string]any)["device"]))
				}
			}
			sort.Strings(rows)
			want := []string{
				fmt.Sprintf("vm1-data in-use %s@/dev/vdb", vm1.ID),
				fmt.Sprintf("vm2-boot in-use %s@/dev/vda", topo.Instances[1].ID),
				fmt.Sprintf("vm2-data in-use %s@/dev/vdb", topo.Instances[1].ID),
				fmt.Sprintf("vm3-data in-use %s@/dev/vdb", vm3.ID),
			}
			if !slices.Equal(rows, want) {
				t.Errorf("volume list --long:\n%q\nwant\n%q", rows, want)
			}

			// The detach and the attach are vm1's actions, each with its compute event finished Success; the
			// refused attach to vm3 never became one.
			var steps []string
			for _, a := range cliEvents(t, cli, vm1.ID) {
				var shown map[string]any
				cli.json(t, &shown, "server", "event", "show", vm1.ID, fmt.Sprint(a["Request ID"]))
				events, _ := shown["events"].([]any)
				for _, e := range events {
					steps = append(steps, fmt.Sprint(a["Action"], ":", e.(map[string]any)["event"], ":", e.(map[string]any)["result"]))
				}
			}
			if want := []string{"attach_volume:compute_attach_volume:Success", "detach_volume:compute_detach_volume:Success"}; !slices.Equal(steps, want) {
				t.Errorf("vm1's actions and events: %q, want %q", steps, want)
			}
			if out, _, err := cli.try(t, "server", "event", "list", vm3.ID, "-f", "value"); err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("vm3's actions after a refused attach: %q (%v), want none", out, err)
			}
		})
	}
}
