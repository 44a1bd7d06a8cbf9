// Package run owns the runs directory and the layout of one run's directory: every snapshot, recovery,
// injection and drill gets RUNS_DIR/<run-id>/, and every file osdr keeps there (manifest, plan, journal,
// database backups, fault record, reports) is named here and nowhere else. Other packages ask a Run for paths.
package run
