// Command apicount prints the number of exported identifiers of each
// package of a module (see package internal/apicount for what counts):
//
//	go run ./internal/cmd/apicount [-v] [module root]
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/exposurekit/exposure/internal/apicount"
)

func main() {
	verbose := flag.Bool("v", false, "list the identifiers")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	pkgs, err := apicount.Walk(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicount:", err)
		os.Exit(1)
	}
	dirs := make([]string, 0, len(pkgs))
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		fmt.Printf("%4d  %s\n", len(pkgs[d]), d)
		if *verbose {
			for _, n := range pkgs[d] {
				fmt.Printf("        %s\n", n)
			}
		}
	}
}
