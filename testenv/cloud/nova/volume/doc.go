// Package volume is Nova's view of the volume service (nova/volume/cinder.py): the volume API operations Nova's
// compute API and nova-compute call to attach and detach volumes, which the simulated Cinder implements. Nova
// reaches Cinder through nothing else.
package volume
