package mapping

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// jsonPath finds the (longest) submission path an expression reads, e.g. data.betrieb.name in
// trim(betrieb.name ?? "") when betrieb is a variable for data.betrieb. It names the field an
// integrator has to look at when a required value is missing; "" if there is none.
func jsonPath(src string, aliases map[string]string) string {
	tree, err := parser.Parse(src)
	if err != nil {
		return ""
	}
	var found string
	ast.Find(tree.Node, func(n ast.Node) bool {
		if p := memberChain(n); len(p) > len(found) {
			found = p
		}
		return false
	})
	if found == "" {
		return ""
	}
	head, rest, _ := strings.Cut(found, ".")
	if full, ok := aliases[head]; ok {
		if rest == "" {
			return full
		}
		return full + "." + rest
	}
	return found
}

// memberChain renders a.b.c for a chain of member accesses on an identifier.
func memberChain(n ast.Node) string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		return x.Value
	case *ast.MemberNode:
		prop, ok := x.Property.(*ast.StringNode)
		if !ok {
			return ""
		}
		base := memberChain(x.Node)
		if base == "" {
			return ""
		}
		return base + "." + prop.Value
	}
	return ""
}
