package operator

import (
	"os"
	"testing"

	"github.com/tokenator-dev/tokenator/controllers"
)

// The manager's namespace, the default of --cluster-resource-namespace:
// POD_NAMESPACE, else the ServiceAccount's namespace file, else
// tokenator-system.
func TestManagerNamespace(t *testing.T) {
	t.Setenv("POD_NAMESPACE", " platform ")
	if got := ManagerNamespace(); got != "platform" {
		t.Errorf("with POD_NAMESPACE: %q, want platform", got)
	}
	t.Setenv("POD_NAMESPACE", "")
	if _, err := os.Stat(serviceAccountNamespaceFile); err == nil {
		t.Skip("running in a pod: the ServiceAccount's namespace file exists")
	}
	if got := ManagerNamespace(); got != controllers.ClusterResourceNamespaceDefault {
		t.Errorf("without POD_NAMESPACE: %q, want %s", got, controllers.ClusterResourceNamespaceDefault)
	}
}
