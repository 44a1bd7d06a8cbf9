package osapi

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The listings and the single reads decode the captured Zed bodies into the same fields, a page at a time:
// one server and one volume a page here, each page linking to the next as Nova and Cinder do.
func TestListingsAndReadsDecodeTheCapturedBodies(t *testing.T) {
	f := newFakeCloud(t)
	f.pageSize = 1
	c, _ := f.client(t, Options{})
	ctx := t.Context()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	server := func(id, name, instance, volume, updated string) Server {
		return Server{ID: id, Name: name, Status: "ACTIVE", VMState: "active", PowerState: 1, Host: "os-accept",
			InstanceName: instance, HostStatus: "UP", Volumes: []string{volume}, Updated: at(updated)}
	}
	wantServers := []Server{ // sorted by id
		server("5c09ef59-0ca3-4502-bdfb-e0b7303dff02", "vm1", "instance-00000001", "83608c12-a6ba-463d-a7e9-200b45fc7658", "2026-11-25T07:35:33Z"),
		server("6774a0c9-a063-4cbd-aa55-298277b09aba", "vm3", "instance-00000003", "07199f7e-b83b-4c3d-a2da-e0df7fa40a40", "2026-11-25T07:34:50Z"),
		server("7c7a65ec-0337-4625-9999-b94be27603da", "vm2", "instance-00000002", "bb25cb15-1681-43ef-ba29-a02f2a14c4ea", "2026-11-25T07:35:50Z"),
	}
	volume := func(id, name, server, attachment, updated string) Volume {
		return Volume{ID: id, Name: name, Status: "in-use", Updated: at(updated),
			Attachments: []VolumeServerAttachment{{ServerID: server, AttachmentID: attachment, Device: "/dev/sdb", HostName: "os-accept"}}}
	}
	wantVolumes := []Volume{
		volume("07199f7e-b83b-4c3d-a2da-e0df7fa40a40", "vol3", "6774a0c9-a063-4cbd-aa55-298277b09aba", "d6f1ea06-018d-4fa2-9d91-9db233f1d2d3", "2026-11-25T07:36:00Z"),
		volume("83608c12-a6ba-463d-a7e9-200b45fc7658", "vol1", "5c09ef59-0ca3-4502-bdfb-e0b7303dff02", "1cfc37b3-530f-4013-a24e-aa9b331eae5d", "2026-11-25T07:35:08Z"),
		volume("bb25cb15-1681-43ef-ba29-a02f2a14c4ea", "vol2", "7c7a65ec-0337-4625-9999-b94be27603da", "3cfc7333-a8cf-4147-b761-9d70e2b5ba8f", "2026-11-25T07:35:14Z"),
	}
	same := cmpopts.EquateEmpty()

	servers, err := c.ListServers(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantServers, servers, same); d != "" {
		t.Errorf("ListServers (-want +got):\n%s", d)
	}
	for _, want := range wantServers {
		got, err := c.GetServer(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, same); d != "" {
			t.Errorf("GetServer %s (-want +got):\n%s", want.ID, d)
		}
	}
	volumes, err := c.ListVolumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantVolumes, volumes, same); d != "" {
		t.Errorf("ListVolumes (-want +got):\n%s", d)
	}
	for _, want := range wantVolumes {
		got, err := c.GetVolume(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, same); d != "" {
			t.Errorf("GetVolume %s (-want +got):\n%s", want.ID, d)
		}
	}
}
