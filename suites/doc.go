// Package suites proves a recovery: it checks the cloud against the manifest taken before the loss, in four
// families, each a label:
//
//	attachments   each iSCSI data volume in-use on the same instance at the same device in Cinder and Nova,
//	              its iSCSI session logged in on the compute host, one live row in Cinder and in Nova
//	states        each instance in the state it had before the loss (or running, if the recovery rebooted it)
//	reachability  each guest that should run answers over SSH and sees its disks and fstab mounts
//	integrity     stamps written before the fault read back; guests rebooted from inside have a new boot id
//
// The checks are plain Go, so the operator binary runs them (`osdr verify`, and a drill in-process) without
// linking a test framework. The same checks run as a Ginkgo suite under `go test ./suites/...` and the ginkgo
// CLI, filtered with the same label expressions (see suites_test.go).
package suites
