package osapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
	"github.com/osdr/osdr/testenv/cloud/osapi"
)

func TestParseMicroversion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want osapi.Microversion
		ok   bool
	}{
		{"2.1", osapi.Microversion{Major: 2, Minor: 1}, true},
		{"2.96", osapi.Microversion{Major: 2, Minor: 96}, true},
		{"3.0", osapi.Microversion{Major: 3, Minor: 0}, true},
		{"2.01", osapi.Microversion{}, false},
		{"2", osapi.Microversion{}, false},
		{"v2.1", osapi.Microversion{}, false},
		{"0.1", osapi.Microversion{}, false},
	} {
		got, err := osapi.ParseMicroversion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMicroversion(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// Each profile negotiates microversions up to its release's maximum, echoes the version it serves, and refuses
// others with the services' 406 and 400 bodies.
func TestMicroversionNegotiation(t *testing.T) {
	for _, profile := range cloud.ProfileNames() {
		t.Run(profile, func(t *testing.T) {
			f := cloudtest.New(t, cloud.Config{Profile: profile})
			p := f.Cloud.Profile()
			e := f.Cloud.Endpoints()
			token := f.Token(t)
			nova, cinder := p.ComputeMaxVersion.String(), p.VolumeMaxVersion.String()
			tooNew := func(v osapi.Microversion) string {
				return osapi.Microversion{Major: v.Major, Minor: v.Minor + 1}.String()
			}
			for _, tc := range []struct {
				name    string
				url     string
				headers []string
				status  int
				served  string // the version header the answer carries
				body    string
			}{
				{"compute default", e.Compute + "/os-services", nil, 200, "compute 2.1", ""},
				{"compute standard header", e.Compute + "/os-services", []string{"OpenStack-API-Version", "compute 2.53"}, 200, "compute 2.53", ""},
				{"compute legacy header", e.Compute + "/os-services", []string{"X-OpenStack-Nova-API-Version", "2.11"}, 200, "compute 2.11", ""},
				{"compute latest", e.Compute + "/os-services", []string{"OpenStack-API-Version", "compute latest"}, 200, "compute " + nova, ""},
				{"compute header for another service", e.Compute + "/os-services", []string{"OpenStack-API-Version", "volume 3.50"}, 200, "compute 2.1", ""},
				{"compute too new", e.Compute + "/os-services", []string{"OpenStack-API-Version", "compute " + tooNew(p.ComputeMaxVersion)}, 406, "",
					fmt.Sprintf(`{"computeFault": {"code": 406, "message": "Version %s is not supported by the API. Minimum is 2.1 and maximum is %s."}}`,
						tooNew(p.ComputeMaxVersion), nova)},
				{"compute too old", e.Compute + "/os-services", []string{"X-OpenStack-Nova-API-Version", "2.0"}, 406, "",
					fmt.Sprintf(`{"computeFault": {"code": 406, "message": "Version 2.0 is not supported by the API. Minimum is 2.1 and maximum is %s."}}`, nova)},
				{"compute malformed", e.Compute + "/os-services", []string{"OpenStack-API-Version", "compute 2.x"}, 400, "",
					`{"badRequest": {"code": 400, "message": "API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum."}}`},
				{"volume default", e.Volume + "/os-services", nil, 200, "volume 3.0", ""},
				{"volume latest", e.Volume + "/os-services", []string{"OpenStack-API-Version", "volume latest"}, 200, "volume " + cinder, ""},
				{"volume maximum", e.Volume + "/os-services", []string{"OpenStack-API-Version", "volume " + cinder}, 200, "volume " + cinder, ""},
				{"volume too new", e.Volume + "/os-services", []string{"OpenStack-API-Version", "volume " + tooNew(p.VolumeMaxVersion)}, 406, "",
					fmt.Sprintf(`{"computeFault": {"code": 406, "message": "Version %s is not supported by the API. Minimum is 3.0 and maximum is %s."}}`,
						tooNew(p.VolumeMaxVersion), cinder)},
				{"volume header without volume", e.Volume + "/os-services", []string{"OpenStack-API-Version", "compute 2.1"}, 400, "",
					`{"badRequest": {"code": 400, "message": "The server could not comply with the request since it is either malformed or otherwise incorrect."}}`},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := cloudtest.Request(t, "GET", tc.url, "", append([]string{"X-Auth-Token", token}, tc.headers...)...)
					if tc.body != "" {
						cloudtest.WantBody(t, r, tc.status, tc.body)
					} else if r.Status != tc.status {
						t.Errorf("%d %s", r.Status, r.Body)
					}
					if got := r.Header.Get("OpenStack-API-Version"); got != tc.served {
						t.Errorf("OpenStack-API-Version %q, want %q", got, tc.served)
					}
					if tc.served != "" && !slices.Contains(r.Header.Values("Vary"), "OpenStack-API-Version") {
						t.Errorf("Vary %v", r.Header.Values("Vary"))
					}
					if strings.HasPrefix(tc.served, "compute ") && r.Header.Get("X-OpenStack-Nova-API-Version") != strings.TrimPrefix(tc.served, "compute ") {
						t.Errorf("X-OpenStack-Nova-API-Version %q", r.Header.Get("X-OpenStack-Nova-API-Version"))
					}
				})
			}
			// Each profile's version documents carry its maxima.
			root := strings.TrimSuffix(e.Compute, "/v2.1")
			doc := cloudtest.Request(t, "GET", e.Compute+"/", "").JSON(t).(map[string]any)["version"].(map[string]any)
			if doc["version"] != nova || doc["min_version"] != "2.1" || doc["id"] != "v2.1" {
				t.Errorf("GET /v2.1/: %v", doc)
			}
			versions := cloudtest.Request(t, "GET", root+"/", "").JSON(t).(map[string]any)["versions"].([]any)
			if versions[1].(map[string]any)["version"] != nova {
				t.Errorf("GET /: %v", versions)
			}
			cv := cloudtest.Request(t, "GET", strings.TrimSuffix(e.Volume, "/v3/"+f.Cloud.Admin().ProjectID)+"/", "")
			v3 := cv.JSON(t).(map[string]any)["versions"].([]any)[0].(map[string]any)
			if cv.Status != 300 || v3["version"] != cinder || v3["updated"] != p.VolumeVersionUpdated {
				t.Errorf("cinder GET /: %d %v", cv.Status, v3)
			}
		})
	}
}
