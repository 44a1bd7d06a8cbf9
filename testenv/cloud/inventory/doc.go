// Package inventory describes what a simulated cloud holds: its compute hosts and the instances on them, with
// their addresses and the volumes attached to them, and where the control plane and the storage run. Provision
// writes an inventory into Nova's and Cinder's databases as the services themselves would have.
package inventory
