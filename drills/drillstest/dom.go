package drillstest

import (
	"slices"
	"strings"

	"golang.org/x/net/html"
)

// ByClass returns the elements under n that have the class, in document order.
func ByClass(n *html.Node, class string) []*html.Node {
	return find(n, func(e *html.Node) bool { return slices.Contains(strings.Fields(Attr(e, "class")), class) })
}

// ByID returns the element under n with the id, or nil.
func ByID(n *html.Node, id string) *html.Node {
	if found := find(n, func(e *html.Node) bool { return Attr(e, "id") == id }); len(found) > 0 {
		return found[0]
	}
	return nil
}

// ByTag returns the elements under n with the tag name, in document order.
func ByTag(n *html.Node, tag string) []*html.Node {
	return find(n, func(e *html.Node) bool { return e.Data == tag })
}

// Attr is an element's attribute, or "".
func Attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// Text is the text under n, its runs of white space made single spaces.
func Text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}
