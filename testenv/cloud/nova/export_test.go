package nova

// FlavorCount is how many flavors Nova serves, for the external tests.
func FlavorCount() int { return len(flavorCatalog) }
