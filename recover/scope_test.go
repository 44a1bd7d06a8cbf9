package recover

import (
	"reflect"
	"strings"
	"testing"
)

// The one resolution of --all, --instance, --host, --volume and a drill's targets: a union, where anything
// named that the manifest does not know is an error, never a smaller scope.
func TestScopeResolvesTheUnionOfWhatItNames(t *testing.T) {
	m := &Manifest{
		Instances: []Instance{
			{ID: instA, Name: "web", Host: "compute-1", Tags: []string{"canary"}},
			{ID: instB, Name: "db", Host: "compute-1"},
			{ID: instC, Name: "twin", Host: "compute-2"},
			{ID: "dddddddd-0000-4000-8000-000000000004", Name: "twin", Host: "compute-2", Tags: []string{"canary"}},
		},
		Attachments: []Attachment{
			{VolumeID: "v-a1", InstanceID: instA, Device: "/dev/vdb", DriverVolumeType: "iscsi"},
			{VolumeID: "v-a2", InstanceID: instA, Device: "/dev/vdc", DriverVolumeType: "iscsi"},
			{VolumeID: "v-b1", InstanceID: instB, Device: "/dev/vdb", DriverVolumeType: "iscsi"},
		},
	}
	const instD = "dddddddd-0000-4000-8000-000000000004"
	for _, tc := range []struct {
		name  string
		scope Scope
		want  []string
		only  map[string]map[string]bool
		err   string
	}{
		{"all", Scope{All: true}, []string{instA, instB, instC, instD}, nil, ""},
		{"ids and a host", Scope{Instances: []string{instA}, Hosts: []string{"compute-2"}}, []string{instA, instC, instD}, nil, ""},
		{"a name", Scope{Names: []string{"db"}}, []string{instB}, nil, ""},
		{"a tag", Scope{Tags: []string{"canary"}}, []string{instA, instD}, nil, ""},
		{"a volume: its instance with only that volume", Scope{Volumes: []string{"v-a2"}}, []string{instA}, map[string]map[string]bool{instA: {"v-a2": true}}, ""},
		{"a volume of an instance also named whole", Scope{Instances: []string{instA}, Volumes: []string{"v-a2"}}, []string{instA}, nil, ""},
		{"the same instance twice", Scope{Instances: []string{instB}, Names: []string{"db"}, Hosts: []string{"compute-1"}}, []string{instA, instB}, nil, ""},
		{"an ambiguous name", Scope{Names: []string{"twin"}}, nil, nil, "2 instances are named \"twin\""},
		{"an unknown name", Scope{Names: []string{"wbe"}}, nil, nil, "no instance is named \"wbe\""},
		{"an unknown tag", Scope{Tags: []string{"prod"}}, nil, nil, "no instance has tag \"prod\""},
		{"an unknown volume", Scope{Volumes: []string{"v-x"}}, nil, nil, "volume v-x is unknown"},
		{"an unknown id among known ones", Scope{Instances: []string{instA, "no-such"}}, nil, nil, `unknown instance "no-such"`},
		{"nothing", Scope{}, nil, nil, "empty scope"},
		{"everything and something", Scope{All: true, Names: []string{"db"}}, nil, nil, "--all selects every instance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := tc.scope.Resolve(m)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Resolve = %+v, %v; want an error containing %q", sel, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sel.Instances, tc.want) {
				t.Errorf("instances %v, want %v", sel.Instances, tc.want)
			}
			if tc.only == nil {
				tc.only = map[string]map[string]bool{}
			}
			if !reflect.DeepEqual(sel.Only, tc.only) {
				t.Errorf("only %v, want %v", sel.Only, tc.only)
			}
		})
	}
}
