package keystone_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"

	"github.com/osdr/osdr/testenv/cloud"
	"github.com/osdr/osdr/testenv/cloud/cloudtest"
)

func passwordAuth(user, password, project string) string {
	return fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": %q,
		"domain": {"name": "Default"}, "password": %q}}}, "scope": {"project": {"name": %q,
		"domain": {"name": "Default"}}}}}`, user, password, project)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A password authentication answers 201 with the token in X-Subject-Token and a body shaped like Keystone's,
// its catalog carrying versioned URLs for every interface so gophercloud needs no discovery.
func TestPasswordAuthentication(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{Region: "RegionTwo"})
	admin := f.Cloud.Admin()
	e := f.Cloud.Endpoints()
	r := cloudtest.Request(t, "POST", e.Identity+"/auth/tokens", passwordAuth(admin.UserName, admin.Password, admin.ProjectName))
	if r.Status != 201 || !strings.HasPrefix(r.Header.Get("X-Subject-Token"), "gAAAAA") {
		t.Fatalf("%d, token %q: %s", r.Status, r.Header.Get("X-Subject-Token"), r.Body)
	}
	token := r.JSON(t).(map[string]any)["token"].(map[string]any)
	captured := cloudtest.ReadSample(t, "keystone_token_response.json").(map[string]any)["body"].(map[string]any)["token"].(map[string]any)
	if got, want := keys(token), keys(captured); !slices.Equal(got, want) {
		t.Errorf("token fields %v, want the captured %v", got, want)
	}
	for _, part := range []string{"project", "user"} {
		if got, want := keys(token[part].(map[string]any)), keys(captured[part].(map[string]any)); !slices.Equal(got, want) {
			t.Errorf("%s fields %v, want %v", part, got, want)
		}
	}
	var roles []string
	for _, role := range token["roles"].([]any) {
		roles = append(roles, role.(map[string]any)["name"].(string))
	}
	if sort.Strings(roles); !slices.Equal(roles, []string{"admin", "member", "reader"}) {
		t.Errorf("roles %v", roles)
	}
	wantURLs := map[string]string{
		"identity": e.Identity + "/", "compute": e.Compute, "volumev3": e.Volume, "block-storage": e.Volume, "image": e.Image,
	}
	for _, entry := range token["catalog"].([]any) {
		s := entry.(map[string]any)
		kind := s["type"].(string)
		var ifaces []string
		for _, ep := range s["endpoints"].([]any) {
			ep := ep.(map[string]any)
			ifaces = append(ifaces, ep["interface"].(string))
			if ep["url"] != wantURLs[kind] || ep["region"] != "RegionTwo" || ep["region_id"] != "RegionTwo" || len(ep["id"].(string)) != 32 {
				t.Errorf("%s endpoint %v, want url %s", kind, ep, wantURLs[kind])
			}
		}
		if sort.Strings(ifaces); !slices.Equal(ifaces, []string{"admin", "internal", "public"}) {
			t.Errorf("%s interfaces %v", kind, ifaces)
		}
		delete(wantURLs, kind)
	}
	if len(wantURLs) > 0 {
		t.Errorf("catalog lacks %v", wantURLs)
	}
	if !strings.HasSuffix(e.Volume, "/v3/"+admin.ProjectID) || len(admin.ProjectID) != 32 {
		t.Errorf("volume endpoint %s for project %s", e.Volume, admin.ProjectID)
	}

	pc := f.Provider(t)
	for _, tc := range []struct {
		name string
		new  func(*gophercloud.ProviderClient, gophercloud.EndpointOpts) (*gophercloud.ServiceClient, error)
		want string
	}{
		{"compute", openstack.NewComputeV2, e.Compute + "/"},
		{"block storage", openstack.NewBlockStorageV3, e.Volume + "/"},
	} {
		sc, err := tc.new(pc, gophercloud.EndpointOpts{Region: "RegionTwo"})
		if err != nil || sc.Endpoint != tc.want {
			t.Errorf("%s client at %q (%v), want %s", tc.name, sc.Endpoint, err, tc.want)
		}
	}

	// The token validates, and once revoked no service takes it.
	subject := pc.Token()
	shown := cloudtest.Request(t, "GET", e.Identity+"/auth/tokens", "", "X-Auth-Token", subject, "X-Subject-Token", subject)
	if shown.Status != 200 || shown.Header.Get("X-Subject-Token") != subject {
		t.Errorf("validate: %d %s", shown.Status, shown.Body)
	}
	if r := cloudtest.Request(t, "DELETE", e.Identity+"/auth/tokens", "", "X-Auth-Token", f.Token(t), "X-Subject-Token", subject); r.Status != 204 {
		t.Errorf("revoke: %d %s", r.Status, r.Body)
	}
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", e.Identity+"/auth/tokens", "", "X-Auth-Token", f.Token(t), "X-Subject-Token", subject),
		404, `{"error": {"code": 404, "title": "Not Found", "message": "Could not find token: `+subject+`."}}`)
	cloudtest.WantBody(t, cloudtest.Request(t, "GET", e.Compute+"/servers", "", "X-Auth-Token", subject), 401,
		`{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`)
}

// Keystone refuses bad credentials with one 401 that does not say what was wrong, and malformed requests with
// its validation messages.
func TestAuthenticationRefusals(t *testing.T) {
	f := cloudtest.New(t, cloud.Config{AdminPassword: "s3cret", AdminProject: "ops"})
	url := f.Cloud.Endpoints().Identity + "/auth/tokens"
	unauthorized := `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"wrong password", passwordAuth("admin", "guess", "ops"), 401, unauthorized},
		{"unknown user", passwordAuth("root", "s3cret", "ops"), 401, unauthorized},
		{"project the user has no role on", passwordAuth("admin", "s3cret", "admin"), 401, unauthorized},
		{"user in another domain", `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
			"domain": {"name": "Other"}, "password": "s3cret"}}}}}`, 401, unauthorized},
		{"unsupported method", `{"auth": {"identity": {"methods": ["totp"], "totp": {}}}}`, 401,
			`{"error": {"code": 401, "title": "Unauthorized", "message": "Attempted to authenticate with an unsupported method.",
			"identity": {"methods": ["external", "password", "token", "oauth1", "mapped", "application_credential"]}}}`},
		{"no identity", `{"auth": {}}`, 400, `{"error": {"code": 400, "title": "Bad Request", "message": "'identity' is a required property"}}`},
		{"not JSON", `{"auth": `, 400, `{"error": {"code": 400, "title": "Bad Request", "message": "'identity' is a required property"}}`},
		{"no methods", `{"auth": {"identity": {}}}`, 400,
			`{"error": {"code": 400, "title": "Bad Request", "message": "Invalid input for field 'identity': 'methods' is a required property"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cloudtest.Request(t, "POST", url, tc.body)
			cloudtest.WantBody(t, r, tc.status, tc.want)
			if tc.status == 401 && r.Header.Get("WWW-Authenticate") != `Keystone uri="`+f.Cloud.Endpoints().Identity+`"` {
				t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if r := cloudtest.Request(t, "PUT", url, "{}"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("PUT /v3/auth/tokens: %d, want 405", r.Status)
	}
	// An unscoped token is issued, but no service takes it.
	r := cloudtest.Request(t, "POST", url, `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
		"domain": {"id": "default"}, "password": "s3cret"}}}}}`)
	if r.Status != 201 {
		t.Fatalf("unscoped: %d %s", r.Status, r.Body)
	}
	if _, scoped := r.JSON(t).(map[string]any)["token"].(map[string]any)["catalog"]; scoped {
		t.Error("an unscoped token carries a catalog")
	}
	if got := cloudtest.Request(t, "GET", f.Cloud.Endpoints().Compute+"/servers", "", "X-Auth-Token", r.Header.Get("X-Subject-Token")); got.Status != 401 {
		t.Errorf("an unscoped token on Nova: %d", got.Status)
	}
}
