package nova

import (
	"net/http"
	"slices"

	"github.com/osdr/osdr/testenv/cloud/osapi"
)

// flavor is a row of the API database's flavors table, which the cell schema does not carry: the simulation
// serves devstack's default flavors, and an instance names its flavor by instances.instance_type_id.
type flavor struct {
	id       int64 // flavors.id, what instance_type_id holds
	flavorID string
	name     string
	vcpus    int
	memoryMB int
	rootGB   int
	swapMB   int
}

var flavorCatalog = []flavor{
	{1, "1", "m1.tiny", 1, 512, 1, 0},
	{2, "2", "m1.small", 1, 2048, 20, 0},
	{3, "3", "m1.medium", 2, 4096, 40, 0},
	{4, "4", "m1.large", 4, 8192, 80, 0},
	{5, "5", "m1.xlarge", 8, 16384, 160, 0},
}

func flavorByID(id int64) (flavor, bool) {
	i := slices.IndexFunc(flavorCatalog, func(f flavor) bool { return f.id == id })
	if i < 0 {
		return flavor{}, false
	}
	return flavorCatalog[i], true
}

// KnownFlavor reports whether Nova serves a flavor of that name.
func KnownFlavor(name string) bool {
	_, ok := flavorByName(name)
	return ok
}

func flavorByName(name string) (flavor, bool) {
	i := slices.IndexFunc(flavorCatalog, func(f flavor) bool { return f.name == name })
	if i < 0 {
		return flavor{}, false
	}
	return flavorCatalog[i], true
}

func flavorLinks(base, flavorID string) []any {
	return []any{osapi.Link("self", base+"/v2.1/flavors/"+flavorID), osapi.Link("bookmark", base+"/flavors/"+flavorID)}
}

// flavorDetail is the flavors ViewBuilder's show.
func flavorDetail(r *osapi.Request, f flavor) map[string]any {
	d := map[string]any{
		"id": f.flavorID, "name": f.name, "ram": f.memoryMB, "disk": f.rootGB, "swap": "",
		"OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": false, "vcpus": f.vcpus,
		"os-flavor-access:is_public": true, "rxtx_factor": 1.0, "links": flavorLinks(osapi.BaseURL(r.Request), f.flavorID),
	}
	if r.Version.AtLeast(2, 55) {
		d["description"] = nil
	}
	if r.Version.AtLeast(2, 61) {
		d["extra_specs"] = map[string]any{}
	}
	if r.Version.AtLeast(2, 75) {
		d["swap"] = f.swapMB
	}
	if r.Version.AtLeast(2, 102) {
		delete(d, "rxtx_factor")
		delete(d, "OS-FLV-DISABLED:disabled")
	}
	return d
}

func (c *Service) listFlavors(w http.ResponseWriter, r *osapi.Request) error {
	out := make([]any, len(flavorCatalog))
	for i, f := range flavorCatalog {
		b := map[string]any{"id": f.flavorID, "name": f.name, "links": flavorLinks(osapi.BaseURL(r.Request), f.flavorID)}
		if r.Version.AtLeast(2, 55) {
			b["description"] = nil
		}
		out[i] = b
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"flavors": out})
	return nil
}

func (c *Service) listFlavorsDetail(w http.ResponseWriter, r *osapi.Request) error {
	out := make([]any, len(flavorCatalog))
	for i, f := range flavorCatalog {
		out[i] = flavorDetail(r, f)
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"flavors": out})
	return nil
}

func (c *Service) showFlavor(w http.ResponseWriter, r *osapi.Request) error {
	id := r.PathValue("id")
	i := slices.IndexFunc(flavorCatalog, func(f flavor) bool { return f.flavorID == id })
	if i < 0 {
		return osapi.NotFound("Flavor %s could not be found.", id)
	}
	osapi.WriteJSON(w, http.StatusOK, map[string]any{"flavor": flavorDetail(r, flavorCatalog[i])})
	return nil
}
