package settings

// Environment variables of the settings contract. The OS_* names are OpenStack's own (openrc, clouds.yaml);
// the OSDR_* names are osdr's.
const (
	EnvOSCloud               = "OS_CLOUD"
	EnvOSClientConfigFile    = "OS_CLIENT_CONFIG_FILE"
	EnvOSClientSecureFile    = "OS_CLIENT_SECURE_FILE"
	EnvOSAuthURL             = "OS_AUTH_URL"
	EnvOSUsername            = "OS_USERNAME"
	EnvOSUserID              = "OS_USER_ID"
	EnvOSPassword            = "OS_PASSWORD"
	EnvOSProjectName         = "OS_PROJECT_NAME"
	EnvOSProjectID           = "OS_PROJECT_ID"
	EnvOSUserDomainName      = "OS_USER_DOMAIN_NAME"
	EnvOSUserDomainID        = "OS_USER_DOMAIN_ID"
	EnvOSProjectDomainName   = "OS_PROJECT_DOMAIN_NAME"
	EnvOSProjectDomainID     = "OS_PROJECT_DOMAIN_ID"
	EnvOSAppCredentialID     = "OS_APPLICATION_CREDENTIAL_ID"
	EnvOSAppCredentialName   = "OS_APPLICATION_CREDENTIAL_NAME"
	EnvOSAppCredentialSecret = "OS_APPLICATION_CREDENTIAL_SECRET"
	EnvOSRegionName          = "OS_REGION_NAME"
	EnvOSInterface           = "OS_INTERFACE"
	EnvOSCACert              = "OS_CACERT"
	EnvOSCert                = "OS_CERT"
	EnvOSKey                 = "OS_KEY"
	EnvOSInsecure            = "OS_INSECURE"
	EnvCinderDBDSN           = "OSDR_CINDER_DB_DSN"
	EnvCinderDBDSNFile       = "OSDR_CINDER_DB_DSN_FILE"
	EnvNovaDBDSN             = "OSDR_NOVA_DB_DSN"
	EnvNovaDBDSNFile         = "OSDR_NOVA_DB_DSN_FILE"
	EnvAllowInsecureDSNFile  = "OSDR_ALLOW_INSECURE_DSN_FILE"
	EnvMaxDSNFileBytes       = "OSDR_MAX_DSN_FILE_BYTES"
	EnvInventory             = "OSDR_INVENTORY"
	EnvMaxInventoryBytes     = "OSDR_MAX_INVENTORY_BYTES"
	EnvMaxManifestBytes      = "OSDR_MAX_MANIFEST_BYTES"
	EnvMaxJournalBytes       = "OSDR_MAX_JOURNAL_BYTES"
	EnvMaxDrillFileBytes     = "OSDR_MAX_DRILL_FILE_BYTES"
	EnvSSHKey                = "OSDR_SSH_KEY"
	EnvSSHUser               = "OSDR_SSH_USER"
	EnvKnownHosts            = "OSDR_KNOWN_HOSTS"
	EnvRunsDir               = "OSDR_RUNS_DIR"
	// EnvDebug is osdr's own: python-openstackclient's --debug has no variable.
	EnvDebug = "OSDR_DEBUG"
)

// Flags of the settings contract. There is deliberately no flag for a DSN or a password: argv is visible to
// every user of the machine, so secrets come from the environment or from files.
const (
	FlagOSCloud                = "os-cloud"
	FlagOSRegionName           = "os-region-name"
	FlagOSCACert               = "os-cacert"
	FlagInsecure               = "insecure"
	FlagDebug                  = "debug"
	FlagCinderDBDSNFile        = "cinder-db-dsn-file"
	FlagNovaDBDSNFile          = "nova-db-dsn-file"
	FlagAllowInsecureDSNFile   = "allow-insecure-dsn-file"
	FlagInventory              = "inventory"
	FlagSSHKey                 = "ssh-key"
	FlagSSHUser                = "ssh-user"
	FlagKnownHosts             = "known-hosts"
	FlagInsecureIgnoreHostKeys = "insecure-ignore-host-keys"
	FlagRunsDir                = "runs-dir"
)

// EnvNames lists every environment variable of the contract in the order osdr.env writes them.
func EnvNames() []string {
	return []string{
		EnvOSCloud, EnvOSClientConfigFile, EnvOSClientSecureFile,
		EnvOSAuthURL, EnvOSUsername, EnvOSUserID, EnvOSPassword,
		EnvOSProjectName, EnvOSProjectID,
		EnvOSUserDomainName, EnvOSUserDomainID, EnvOSProjectDomainName, EnvOSProjectDomainID,
		EnvOSAppCredentialID, EnvOSAppCredentialName, EnvOSAppCredentialSecret,
		EnvOSRegionName, EnvOSInterface, EnvOSCACert, EnvOSCert, EnvOSKey, EnvOSInsecure,
		EnvCinderDBDSN, EnvCinderDBDSNFile, EnvNovaDBDSN, EnvNovaDBDSNFile, EnvAllowInsecureDSNFile, EnvMaxDSNFileBytes,
		EnvInventory, EnvMaxInventoryBytes, EnvSSHKey, EnvSSHUser, EnvKnownHosts,
		EnvRunsDir, EnvMaxManifestBytes, EnvMaxJournalBytes, EnvMaxDrillFileBytes, EnvDebug,
	}
}
