// Package apicount counts the exported identifiers of a Go package, the
// measure of a package's surface that ARCHITECTURE.md keeps in check:
// exported top-level names (constants, variables, functions, types), the
// exported methods of any type, exported fields of struct types and the
// methods of interface types, in the package's non-test files.
package apicount

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Count returns the exported identifiers of the package in dir, sorted,
// each as "Name", "Type.Method" or "Type.Field".
func Count(dir string) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	pkg := ""
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" {
			continue
		}
		if pkg == "" {
			pkg = f.Name.Name
		} else if pkg != f.Name.Name {
			return nil, fmt.Errorf("apicount: %s holds packages %s and %s", dir, pkg, f.Name.Name)
		}
		names = append(names, fileNames(f)...)
	}
	sort.Strings(names)
	return names, nil
}

func fileNames(f *ast.File) []string {
	var names []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				names = append(names, d.Name.Name)
				continue
			}
			// Methods of unexported types are not part of the surface.
			if recv := recvName(d.Recv.List[0].Type); ast.IsExported(recv) {
				names = append(names, recv+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							names = append(names, n.Name)
						}
					}
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					names = append(names, s.Name.Name)
					names = append(names, members(s.Name.Name, s.Type)...)
				}
			}
		}
	}
	return names
}

// members are the exported fields of a struct type (an embedded one
// counts once, by its type's name) and the methods of an interface type
// (an embedded interface adds nothing: its methods count where it is
// declared).
func members(typ string, e ast.Expr) []string {
	var list *ast.FieldList
	iface := false
	switch t := e.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list, iface = t.Methods, true
	default:
		return nil
	}
	var names []string
	for _, f := range list.List {
		if len(f.Names) == 0 { // embedded
			if iface {
				continue
			}
			if n := recvName(f.Type); ast.IsExported(n) {
				names = append(names, typ+"."+n)
			}
			continue
		}
		for _, n := range f.Names {
			if n.IsExported() {
				names = append(names, typ+"."+n.Name)
			}
		}
	}
	return names
}

func recvName(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.SelectorExpr:
			return t.Sel.Name
		case *ast.Ident:
			return t.Name
		default:
			return "?"
		}
	}
}

// Walk counts every package under root that has non-test Go files,
// skipping testdata and internal folders, keyed by folder relative to root.
// Folders holding a go.mod of their own (other modules) are skipped too,
// except root itself.
func Walk(root string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		base := d.Name()
		if path != root {
			if base == "testdata" || base == "internal" || strings.HasPrefix(base, ".") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
		}
		names, err := Count(path)
		if err != nil {
			return err
		}
		if len(names) > 0 {
			rel, _ := filepath.Rel(root, path)
			out[rel] = names
		}
		return nil
	})
	return out, err
}
