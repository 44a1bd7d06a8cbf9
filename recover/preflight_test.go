package recover

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/osdr/osdr/internal/osapi"
)

func TestDecideFollowsTheProcedure(t *testing.T) {
	running := osapi.Server{VMState: "active", PowerState: 1}
	for _, tc := range []struct {
		name          string
		was           string
		now           osapi.Server
		preLoss       bool
		explicit      bool
		include, boot bool
		reason        string
	}{
		{"running before, shut off by the power-state sync", "active", osapi.Server{VMState: "stopped", PowerState: 4}, false, false, true, true, ""},
		{"running before, domain lost (ACTIVE/NOSTATE)", "active", osapi.Server{VMState: "active", PowerState: 0}, false, false, true, true, ""},
		{"ERROR after a failed soft reboot", "active", osapi.Server{VMState: "error"}, false, false, true, true, ""},
		{"stopped in a post-loss manifest is presumed lost power", "stopped", osapi.Server{VMState: "stopped", PowerState: 4}, false, false, true, true, ""},
		{"stopped before the loss stays stopped", "stopped", osapi.Server{VMState: "stopped", PowerState: 4}, true, false, true, false, "stays stopped"},
		{"shelved keeps its state", "shelved_offloaded", osapi.Server{VMState: "shelved_offloaded"}, false, false, true, false, "keeps that state"},
		{"already running again is left out", "active", running, false, false, false, false, "already running again"},
		{"running, named explicitly (test mode): the whole procedure", "active", running, false, true, true, true, "named explicitly"},
		{"a task runs", "active", osapi.Server{VMState: "active", TaskState: "rebooting_hard"}, false, false, false, false, "a task runs"},
		{"suspended cannot take an attach", "suspended", osapi.Server{VMState: "suspended"}, false, false, false, false, "refuses a volume attach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decision{Instance: Instance{ID: instA, VMState: tc.was}, Now: tc.now}
			decide(&d, tc.preLoss, tc.explicit)
			if d.Include != tc.include || d.Reboot != tc.boot || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("include=%v reboot=%v reason=%q; want include=%v reboot=%v reason containing %q", d.Include, d.Reboot, d.Reason, tc.include, tc.boot, tc.reason)
			}
		})
	}
}

// fakeCloud answers like Nova and Cinder for preflight's reads.
type fakeCloud struct {
	computeAPI
	servers        map[string]osapi.Server
	computes, vols []osapi.Service
}

func (f *fakeCloud) GetServer(_ context.Context, id string) (osapi.Server, error) {
	s, ok := f.servers[id]
	if !ok {
		return s, errNotFound
	}
	return s, nil
}
func (f *fakeCloud) ListServers(context.Context, string) ([]osapi.Server, error) {
	return slices.Collect(maps.Values(f.servers)), nil
}
func (f *fakeCloud) ComputeServices(context.Context) ([]osapi.Service, error) { return f.computes, nil }
func (f *fakeCloud) VolumeServices(context.Context) ([]osapi.Service, error)  { return f.vols, nil }

// errNotFound is Nova's answer for a server it does not have, as gophercloud returns it.
var errNotFound = gophercloud.ErrUnexpectedResponseCode{Actual: http.StatusNotFound}

func TestPreflightStopsOnDownServicesUnlessTold(t *testing.T) {
	m := &Manifest{Instances: []Instance{
		{ID: instA, Host: "compute-1", VMState: "active"},
		{ID: instB, Host: "compute-2", VMState: "active"},
	}}
	cloud := &fakeCloud{
		servers: map[string]osapi.Server{
			instA: {ID: instA, Host: "compute-1", VMState: "stopped", PowerState: 4},
			instB: {ID: instB, Host: "compute-2", VMState: "stopped", PowerState: 4},
		},
		computes: []osapi.Service{{Host: "compute-1", State: "up", Status: "enabled"}, {Host: "compute-2", State: "down", Status: "enabled"}},
		vols:     []osapi.Service{{Host: "ctl@lvm", State: "up", Status: "enabled"}},
	}
	ctx := context.Background()
	_, err := preflight(ctx, cloud, m, []string{instA, instB}, preflightOptions{})
	if !errors.Is(err, errServicesDown) || !strings.Contains(err.Error(), "compute-2") {
		t.Fatalf("err = %v, want errServicesDown naming compute-2", err)
	}
	decisions, err := preflight(ctx, cloud, m, []string{instA, instB}, preflightOptions{SkipDownHosts: true})
	if err != nil {
		t.Fatal(err)
	}
	if !decisions[0].Include || !decisions[0].Reboot || decisions[1].Include || !strings.Contains(decisions[1].Reason, "compute-2 is down") {
		t.Errorf("decisions = %+v", decisions)
	}
	cloud.vols[0].State = "down"
	if _, err := preflight(ctx, cloud, m, []string{instA}, preflightOptions{}); !errors.Is(err, errServicesDown) {
		t.Fatalf("cinder-volume down: err = %v", err)
	}
}

// countingCloud counts preflight's reads of servers.
type countingCloud struct {
	*fakeCloud
	gets, lists int
}

func (c *countingCloud) GetServer(ctx context.Context, id string) (osapi.Server, error) {
	c.gets++
	return c.fakeCloud.GetServer(ctx, id)
}

func (c *countingCloud) ListServers(ctx context.Context, host string) ([]osapi.Server, error) {
	c.lists++
	return c.fakeCloud.ListServers(ctx, host)
}

// A handful of instances is read one GET each; a fleet in one listing, with the same verdicts, and an
// instance Nova no longer has is refused either way.
func TestPreflightReadsAFleetInOneListing(t *testing.T) {
	for _, n := range []int{3, serversReadOneByOne + 1, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			m := &Manifest{}
			cloud := &countingCloud{fakeCloud: &fakeCloud{
				servers:  map[string]osapi.Server{},
				computes: []osapi.Service{{Host: "compute-1", State: "up", Status: "enabled"}},
			}}
			var ids []string
			for i := range n {
				id := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
				ids = append(ids, id)
				m.Instances = append(m.Instances, Instance{ID: id, Host: "compute-1", VMState: "active"})
				cloud.servers[id] = osapi.Server{ID: id, Host: "compute-1", VMState: "stopped", PowerState: 4}
			}
			decisions, err := preflight(context.Background(), cloud, m, ids, preflightOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range decisions {
				if !d.Include || !d.Reboot {
					t.Fatalf("instance %s: %+v", d.Instance.ID, d)
				}
			}
			if want := n > serversReadOneByOne; want != (cloud.lists == 1 && cloud.gets == 0) {
				t.Errorf("%d instances read with %d GETs and %d listings", n, cloud.gets, cloud.lists)
			}
			delete(cloud.servers, ids[n-1])
			if _, err := preflight(context.Background(), cloud, m, ids, preflightOptions{}); err == nil || !strings.Contains(err.Error(), "no longer exists") {
				t.Errorf("an instance Nova no longer has: err = %v", err)
			}
		})
	}
}
