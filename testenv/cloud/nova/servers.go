package nova

import (
	"cmp"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osdr/osdr/testenv/cloud/nova/novadb"
	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// isoTime is nova.utils.isotime's layout.
const isoTime = "2006-01-02T15:04:05Z"

// isotime is nova.utils.isotime, which renders a missing time as now.
func isotime(t sql.NullTime) string {
	if !t.Valid {
		return time.Now().UTC().Format(isoTime)
	}
	return t.Time.Format(isoTime)
}

// novaStatus is nova.api.openstack.common._STATE_MAP: the API status of a vm_state and task_state.
var novaStatus = map[string]map[string]string{
	"active": {
		"": "ACTIVE", "rebooting": "REBOOT", "reboot_pending": "REBOOT", "reboot_started": "REBOOT",
		"rebooting_hard": "HARD_REBOOT", "reboot_pending_hard": "HARD_REBOOT", "reboot_started_hard": "HARD_REBOOT",
		"updating_password": "PASSWORD", "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
		"rebuild_spawning": "REBUILD", "migrating": "MIGRATING", "resize_prep": "RESIZE",
		"resize_migrating": "RESIZE", "resize_migrated": "RESIZE", "resize_finish": "RESIZE",
	},
	"building": {"": "BUILD"},
	"stopped": {
		"": "SHUTOFF", "resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE",
		"resize_finish": "RESIZE", "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD",
		"rebuild_spawning": "REBUILD",
	},
	"resized":           {"": "VERIFY_RESIZE", "resize_reverting": "REVERT_RESIZE"},
	"paused":            {"": "PAUSED", "migrating": "MIGRATING"},
	"suspended":         {"": "SUSPENDED"},
	"rescued":           {"": "RESCUE"},
	"error":             {"": "ERROR", "rebuilding": "REBUILD", "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD"},
	"deleted":           {"": "DELETED"},
	"soft-delete":       {"": "SOFT_DELETED"},
	"shelved":           {"": "SHELVED"},
	"shelved_offloaded": {"": "SHELVED_OFFLOADED"},
}

func statusFromState(vmState, taskState string) string {
	tasks, ok := novaStatus[vmState]
	if !ok {
		return "UNKNOWN"
	}
	if s, ok := tasks[taskState]; ok {
		return s
	}
	return tasks[""]
}

// statesFromStatus is task_and_vm_state_from_status: the vm_states and task_states a status filter selects;
// a status reached without a task state selects on vm_state alone.
func statesFromStatus(status string) (vmStates, taskStates []string) {
	anyTask := false
	for vm, tasks := range novaStatus {
		for task, s := range tasks {
			if !strings.EqualFold(s, status) {
				continue
			}
			if !slices.Contains(vmStates, vm) {
				vmStates = append(vmStates, vm)
			}
			if task == "" {
				anyTask = true
			} else if !slices.Contains(taskStates, task) {
				taskStates = append(taskStates, task)
			}
		}
	}
	if anyTask {
		taskStates = nil
	}
	slices.Sort(vmStates)
	slices.Sort(taskStates)
	return vmStates, taskStates
}

// Nova's progress field is shown only for these statuses, a fault only for ERROR and DELETED.
var progressStatuses = []string{"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}

// hostID is nova.utils.generate_hostid: sha224 of project id and host.
func hostID(host, project string) string {
	if host == "" {
		return ""
	}
	sum := sha256.Sum224([]byte(project + host))
	return hex.EncodeToString(sum[:])
}

// serverContext is what rendering a server needs beyond its row.
type serverContext struct {
	bdms        []novadb.BDM
	networkInfo string
	fault       *fault
	hostStatus  string
}

// serverView is ViewBuilder.show of nova/api/openstack/compute/views/servers.py for an admin caller.
func serverView(r *osapi.Request, i novadb.Instance, sc serverContext, single bool) map[string]any {
	v := r.Version
	base := osapi.BaseURL(r.Request)
	status := statusFromState(i.VMState.String, i.TaskState.String)
	s := map[string]any{
		"id":                i.UUID,
		"name":              osapi.NullString(i.DisplayName),
		"status":            status,
		"tenant_id":         i.ProjectID.String,
		"user_id":           i.UserID.String,
		"metadata":          map[string]any{},
		"hostId":            hostID(i.Host.String, i.ProjectID.String),
		"image":             imageView(base, i.ImageRef.String),
		"flavor":            flavorView(base, i, v),
		"created":           isotime(i.CreatedAt),
		"updated":           isotime(i.UpdatedAt),
		"addresses":         addressesView(i, sc.networkInfo),
		"accessIPv4":        i.AccessIPv4.String,
		"accessIPv6":        i.AccessIPv6.String,
		"links":             []any{osapi.Link("self", base+"/v2.1/servers/"+i.UUID), osapi.Link("bookmark", base+"/servers/"+i.UUID)},
		"OS-DCF:diskConfig": "MANUAL",
	}
	if i.AutoDiskConfig.Bool {
		s["OS-DCF:diskConfig"] = "AUTO"
	}
	if (status == "ERROR" || status == "DELETED") && sc.fault != nil {
		f := map[string]any{"code": sc.fault.code, "created": isotime(sc.fault.createdAt), "message": osapi.NullString(sc.fault.message)}
		if sc.fault.details.String != "" {
			// Details of a 500 are shown to admins only; every caller here is admin.
			f["details"] = sc.fault.details.String
		}
		s["fault"] = f
	}
	if slices.Contains(progressStatuses, status) {
		s["progress"] = osapi.NullInt(i.Progress)
	}
	az := i.AvailabilityZone.String
	if i.Host.String != "" {
		az = "nova"
	}
	s["OS-EXT-AZ:availability_zone"] = az
	if v.AtLeast(2, 96) {
		s["pinned_availability_zone"] = nil
	}
	s["config_drive"] = osapi.NullString(i.ConfigDrive)
	s["key_name"] = osapi.NullString(i.KeyName)
	s["OS-SRV-USG:launched_at"] = osapi.TimeOrNil(i.LaunchedAt, osapi.NaiveTime)
	s["OS-SRV-USG:terminated_at"] = osapi.TimeOrNil(i.TerminatedAt, osapi.NaiveTime)
	s["OS-EXT-SRV-ATTR:host"] = osapi.NullString(i.Host)
	s["OS-EXT-SRV-ATTR:instance_name"] = i.Name()
	s["OS-EXT-SRV-ATTR:hypervisor_hostname"] = osapi.NullString(i.Node)
	if v.AtLeast(2, 3) {
		s["OS-EXT-SRV-ATTR:reservation_id"] = osapi.NullString(i.ReservationID)
		s["OS-EXT-SRV-ATTR:launch_index"] = osapi.NullInt(i.LaunchIndex)
		s["OS-EXT-SRV-ATTR:hostname"] = osapi.NullString(i.Hostname)
		s["OS-EXT-SRV-ATTR:kernel_id"] = osapi.NullString(i.KernelID)
		s["OS-EXT-SRV-ATTR:ramdisk_id"] = osapi.NullString(i.RamdiskID)
		s["OS-EXT-SRV-ATTR:root_device_name"] = osapi.NullString(i.RootDeviceName)
		s["OS-EXT-SRV-ATTR:user_data"] = osapi.NullString(i.UserData)
	}
	s["OS-EXT-STS:task_state"] = osapi.NullString(i.TaskState)
	s["OS-EXT-STS:vm_state"] = osapi.NullString(i.VMState)
	s["OS-EXT-STS:power_state"] = osapi.NullInt(i.PowerState)
	attached := []map[string]any{}
	for _, b := range sc.bdms {
		if !b.VolumeID.Valid {
			continue
		}
		a := map[string]any{"id": b.VolumeID.String}
		if v.AtLeast(2, 3) {
			a["delete_on_termination"] = b.DeleteOnTermination.Bool
		}
		attached = append(attached, a)
	}
	s["os-extended-volumes:volumes_attached"] = attached
	if v.AtLeast(2, 16) {
		s["host_status"] = sc.hostStatus
	}
	if v.AtLeast(2, 9) {
		s["locked"] = i.LockedBy.Valid
	}
	if v.AtLeast(2, 73) {
		s["locked_reason"] = nil
	}
	if v.AtLeast(2, 19) {
		s["description"] = osapi.NullString(i.Description)
	}
	if v.AtLeast(2, 26) {
		s["tags"] = []string{}
	}
	if v.AtLeast(2, 63) {
		s["trusted_image_certificates"] = nil
	}
	if single && v.AtLeast(2, 71) {
		s["server_groups"] = []string{}
	}
	return s
}

func imageView(base, imageRef string) any {
	if imageRef == "" {
		return ""
	}
	return map[string]any{"id": imageRef, "links": []any{osapi.Link("bookmark", base+"/images/"+imageRef)}}
}

// flavorView renders the instance's flavor: a link up to 2.46, the embedded flavor from 2.47.
func flavorView(base string, i novadb.Instance, v osapi.Microversion) any {
	f, ok := flavorByID(i.InstanceTypeID.Int64)
	if !ok {
		return map[string]any{}
	}
	if !v.AtLeast(2, 47) {
		return map[string]any{"id": f.flavorID, "links": []any{osapi.Link("bookmark", base+"/flavors/"+f.flavorID)}}
	}
	return map[string]any{
		"vcpus": i.VCPUs.Int64, "ram": i.MemoryMB.Int64, "disk": i.RootGB.Int64, "ephemeral": i.EphemeralGB.Int64,
		"swap": f.swapMB, "original_name": f.name, "extra_specs": map[string]any{},
	}
}

// vif is the part of a network_info entry (nova.network.model.VIF) the API renders addresses from.
type vif struct {
	Address string `json:"address"`
	Network struct {
		Label   string `json:"label"`
		Subnets []struct {
			IPs []struct {
				Address     string `json:"address"`
				Type        string `json:"type"`
				Version     int    `json:"version"`
				FloatingIPs []struct {
					Address string `json:"address"`
					Type    string `json:"type"`
					Version int    `json:"version"`
				} `json:"floating_ips"`
			} `json:"ips"`
		} `json:"subnets"`
	} `json:"network"`
}

// addressesView is the addresses ViewBuilder over the info cache: per network label the fixed then the
// floating addresses, each with its type and the port's MAC. A building server shows none.
func addressesView(i novadb.Instance, networkInfo string) map[string]any {
	out := map[string]any{}
	if i.VMState.String == "building" || networkInfo == "" {
		return out
	}
	var vifs []vif
	if err := json.Unmarshal([]byte(networkInfo), &vifs); err != nil {
		return out
	}
	addr := func(version int, address, kind, mac string) map[string]any {
		return map[string]any{"version": version, "addr": address, "OS-EXT-IPS:type": kind, "OS-EXT-IPS-MAC:mac_addr": mac}
	}
	for _, v := range vifs {
		var fixed, floating []any
		for _, sn := range v.Network.Subnets {
			for _, ip := range sn.IPs {
				fixed = append(fixed, addr(ip.Version, ip.Address, ip.Type, v.Address))
				for _, fip := range ip.FloatingIPs {
					floating = append(floating, addr(fip.Version, fip.Address, fip.Type, v.Address))
				}
			}
		}
		list, _ := out[v.Network.Label].([]any)
		out[v.Network.Label] = append(append(list, fixed...), floating...)
	}
	return out
}

// serverContexts loads what rendering the instances needs: live BDMs, info caches, faults, host statuses.
func (c *Service) serverContexts(r *osapi.Request, instances []novadb.Instance) (map[string]serverContext, error) {
	ctx := r.Context()
	uuids := make([]string, len(instances))
	for n, i := range instances {
		uuids[n] = i.UUID
	}
	bdms, err := novadb.LiveBDMs(ctx, c.db, uuids...)
	if err != nil {
		return nil, err
	}
	infos, err := networkInfos(ctx, c.db, uuids)
	if err != nil {
		return nil, err
	}
	faults, err := latestFaults(ctx, c.db, uuids)
	if err != nil {
		return nil, err
	}
	services, err := listComputeServices(ctx, c.db)
	if err != nil {
		return nil, err
	}
	at := time.Now().UTC()
	out := make(map[string]serverContext, len(instances))
	for _, i := range instances {
		sc := serverContext{bdms: bdms[i.UUID], networkInfo: infos[i.UUID], hostStatus: hostStatus(services, i.Host.String, at)}
		if f, ok := faults[i.UUID]; ok {
			sc.fault = &f
		}
		out[i.UUID] = sc
	}
	return out, nil
}

func (c *Service) showServer(w http.ResponseWriter, r *osapi.Request) error {
	i, err := novadb.GetInstance(r.Context(), c.db, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	scs, err := c.serverContexts(r, []novadb.Instance{i})
	if err != nil {
		return err
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"server": serverView(r, i, scs[i.UUID], true)})
	return nil
}

func (c *Service) listServers(w http.ResponseWriter, r *osapi.Request) error {
	instances, links, err := c.filteredInstances(r)
	if err != nil {
		return err
	}
	base := osapi.BaseURL(r.Request)
	servers := make([]any, len(instances))
	for n, i := range instances {
		servers[n] = map[string]any{
			"id": i.UUID, "name": osapi.NullString(i.DisplayName),
			"links": []any{osapi.Link("self", base+"/v2.1/servers/"+i.UUID), osapi.Link("bookmark", base+"/servers/"+i.UUID)},
		}
	}
	osapi.WriteJSON(w, http.StatusOK, osapi.WithLinks(map[string]any{"servers": servers}, "servers_links", links))
	return nil
}

func (c *Service) listServersDetail(w http.ResponseWriter, r *osapi.Request) error {
	instances, links, err := c.filteredInstances(r)
	if err != nil {
		return err
	}
	scs, err := c.serverContexts(r, instances)
	if err != nil {
		return err
	}
	servers := make([]any, len(instances))
	for n, i := range instances {
		servers[n] = serverView(r, i, scs[i.UUID], false)
	}
	osapi.WriteJSON(w, http.StatusOK, osapi.WithLinks(map[string]any{"servers": servers}, "servers_links", links))
	return nil
}

// filteredInstances applies the search options an admin may use (all_tenants, project_id/tenant_id, host,
// name, status) and then marker and limit, as nova's servers controller does; links is the page's collection links.
func (c *Service) filteredInstances(r *osapi.Request) (instances []novadb.Instance, links []any, err error) {
	q := r.URL.Query()
	f := novadb.InstanceFilter{ProjectID: r.Token.ProjectID, Host: q.Get("host"), NamePattern: q.Get("name")}
	if allTenants, err := allTenants(q); err != nil {
		return nil, nil, err
	} else if allTenants {
		f.ProjectID = cmp.Or(q.Get("project_id"), q.Get("tenant_id"))
	}
	if statuses := q["status"]; len(statuses) > 0 {
		for _, s := range statuses {
			vms, tasks := statesFromStatus(s)
			f.VMStates = append(f.VMStates, vms...)
			f.TaskStates = append(f.TaskStates, tasks...)
		}
		if len(f.VMStates) == 0 {
			if r.Version.AtLeast(2, 38) {
				return nil, nil, osapi.BadRequest("Invalid status value")
			}
			return nil, nil, nil
		}
	}
	if err := changesFilter(r, &f); err != nil {
		return nil, nil, err
	}
	instances, err = novadb.ListInstances(r.Context(), c.db, f)
	if err != nil {
		return nil, nil, err
	}
	if marker := q.Get("marker"); marker != "" {
		at := slices.IndexFunc(instances, func(i novadb.Instance) bool { return i.UUID == marker })
		if at < 0 {
			return nil, nil, osapi.BadRequest("marker [%s] not found", marker)
		}
		instances = instances[at+1:]
	}
	limit := c.maxLimit
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return nil, nil, osapi.BadRequest("limit param must be an integer")
		}
		limit = min(n, c.maxLimit)
	}
	if len(instances) > limit {
		instances = instances[:limit]
	}
	if len(instances) > 0 {
		links = osapi.NextLinks(r, len(instances), limit, instances[len(instances)-1].UUID)
	}
	return instances, links, nil
}

// allTenants is nova.api.openstack.common.is_all_tenants: a strict boolean, or present and empty.
func allTenants(q map[string][]string) (bool, error) {
	values, present := q["all_tenants"]
	if !present {
		return false, nil
	}
	if values[0] == "" {
		return true, nil
	}
	b, ok := osapi.BoolParam(values[0])
	if !ok {
		return false, osapi.BadRequest("Invalid input received: Unrecognized value '%s', acceptable values are: "+
			"'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'", values[0])
	}
	return b, nil
}

// changesFilter reads changes-since (every microversion) and changes-before (its query schema from 2.66; an
// admin's is read below it too, as Nova's search options let it through). The query schema refuses a value that
// is not a date-time; the controller refuses a changes-before earlier than changes-since.
func changesFilter(r *osapi.Request, f *novadb.InstanceFilter) error {
	q := r.URL.Query()
	for _, p := range []struct {
		name     string
		schemaAt bool
		into     *time.Time
	}{
		{"changes-since", true, &f.ChangesSince},
		{"changes-before", r.Version.AtLeast(2, 66), &f.ChangesBefore},
	} {
		raw, present := q[p.name]
		if !present {
			continue
		}
		value := raw[len(raw)-1] // search_opts.update(req.GET) keeps a repeated parameter's last value
		t, err := osapi.ParseISOTime(value)
		switch {
		case err != nil && p.schemaAt:
			return osapi.BadRequest("Invalid input for query parameters %s. Value: %s. '%s' is not a 'date-time'", p.name, value, value)
		case err != nil:
			return osapi.BadRequest("Invalid filter field: %s.", p.name)
		}
		*p.into = t
	}
	if !f.ChangesSince.IsZero() && !f.ChangesBefore.IsZero() && f.ChangesBefore.Before(f.ChangesSince) {
		return osapi.BadRequest("The value of changes-since must be less than or equal to changes-before.")
	}
	return nil
}
