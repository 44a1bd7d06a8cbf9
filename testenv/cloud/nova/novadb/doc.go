// Package novadb is Nova's objects over its cell database, what Nova's API and nova-compute both read and write:
// instances (saved, as Instance.save does, only while the task state is still the one expected), block device
// mappings (soft-deleted as Nova destroys them), and the vm_states Nova's state checks share.
package novadb
