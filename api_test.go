package exposure_test

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/exposurekit/exposure/internal/apicount"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The root package is the pipeline and nothing else: its surface stays
// small (ARCHITECTURE.md), and the views beside it (audit, metrics, beacon)
// keep their dependencies out of it.
func TestRootPackageSurface(t *testing.T) {
	names, err := apicount.Count(".")
	require.NoError(t, err)
	t.Logf("exported identifiers of package exposure: %d", len(names))
	assert.LessOrEqual(t, len(names), 130, "exported identifiers:\n%s", strings.Join(names, "\n"))

	forbidden := []string{"go.opentelemetry.io/", "crypto/hmac", "embed", "html/template"}
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				assert.False(t, path == bad || strings.HasPrefix(path, bad) && strings.HasSuffix(bad, "/"),
					"%s imports %s", name, path)
			}
		}
	}
}
