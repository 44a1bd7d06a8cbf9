package cloud

// What the external tests need of the package's internals.

// Complete fills in a topology's defaults and generated ids as Provision does, without writing it.
func (c *Cloud) Complete(t Topology) (Topology, error) { return c.complete(t) }

// DefineVolumeType names a volume type id, as the volume_types table the schema lacks would.
func (c *Cloud) DefineVolumeType(id, name string) { c.cinder.DefineVolumeType(id, name) }

// RunCompute counts nova-compute on host as running, as Provision does for the topology's hosts.
func (c *Cloud) RunCompute(host, ip string) { c.nova.Compute().AddHost(host, ip) }
