package nova_test

import (
	"os"
	"testing"

	"github.com/osdr/osdr/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
