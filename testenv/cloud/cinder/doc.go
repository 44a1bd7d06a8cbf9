// Package cinder is the simulated block-storage service. It serves Cinder's v3 API (volumes, the attachments API
// of microversion 3.27 on, the admin actions os-reset_status and os-force_detach, os-services) over the rows of a
// real Cinder database, answering at the release's microversions with its quirks (the reset-status worker type
// up to 2025.2, the attachment deletion check of bug #2004555), and implements the volume API Nova calls
// (package nova/volume). What it needs of Nova it asks through the Nova interface, as Cinder asks Nova's API.
// The legacy release is the Operations Guide's volume service: the nova-volume-era volumes table, the base API
// at 3.0, and the old attach flow (os-reserve, os-attach, os-begin_detaching, os-detach).
package cinder
