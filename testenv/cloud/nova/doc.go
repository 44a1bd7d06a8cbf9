// Package nova is the simulated compute service: Nova's v2.1 API (servers, their actions reboot, os-start and
// os-stop, volume attachments, instance actions, flavors, os-services) over the rows of a real Nova cell
// database, at the release's microversions, and the compute API behind it, which checks states as Nova's does,
// records instance actions, and reaches nova-compute (package compute) through casts and one call, as
// nova/compute/rpcapi.py does. From microversion 2.101 (Nova 33, 2026.1) nova-conductor carries out an accepted
// attach. Volumes are Cinder's, reached only through the volume API (package volume); what Cinder asks of Nova
// CinderQueries answers. Flavors are devstack's defaults, served from memory: the API database that holds them
// is not simulated.
package nova
