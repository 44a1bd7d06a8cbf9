package hosts

import (
	"fmt"
	"strings"
)

// argKind is getopt_long's has_arg.
type argKind int

const (
	noArgument argKind = iota
	requiredArgument
	optionalArgument
)

type longOption struct {
	name string
	arg  argKind
	val  byte
}

// getopt is glibc's getopt_long with its default GNU behaviour (arguments permuted, so options and operands
// mix freely; "--" ends the options), including the diagnostics it writes to stderr. Tools whose error
// messages depend on where getopt stopped (iscsiadm re-parses its whole command line when it meets -m) are
// reproduced only when getopt is.
type getopt struct {
	argv  []string
	short string
	long  []longOption
	// stderr collects getopt's own diagnostics, prefixed with argv[0] as glibc does.
	stderr *strings.Builder

	// posix stops at the first operand, as a "+" at the start of getopt's option string does: what follows
	// belongs to the command a tool runs (timeout, sudo).
	posix bool

	index   int    // the next argv element to look at
	cluster string // the rest of a group of short options ("-uP3" after -u is "P3")
	done    bool
	// optopt is glibc's optopt: the option character of the last error, 0 for an unknown long option.
	optopt byte
}

func newGetopt(argv []string, short string, long []longOption, stderr *strings.Builder) *getopt {
	return &getopt{argv: argv, short: short, long: long, stderr: stderr, index: 1}
}

// next returns the next option and its argument; ok is false once the options are exhausted. An option
// getopt refused is returned as '?'.
func (g *getopt) next() (opt byte, arg string, ok bool) {
	if g.cluster == "" {
		if !g.advance() {
			return 0, "", false
		}
		word := g.argv[g.index]
		g.index++
		if strings.HasPrefix(word, "--") {
			return g.longOpt(word[2:])
		}
		g.cluster = word[1:]
	}
	c := g.cluster[0]
	g.cluster = g.cluster[1:]
	spec := strings.IndexByte(g.short, c)
	if spec < 0 || c == ':' {
		fmt.Fprintf(g.stderr, "%s: invalid option -- '%c'\n", g.argv[0], c)
		g.optopt = c
		return '?', "", true
	}
	if spec+1 >= len(g.short) || g.short[spec+1] != ':' {
		return c, "", true
	}
	switch {
	case g.cluster != "":
		arg, g.cluster = g.cluster, ""
		return c, arg, true
	case g.index < len(g.argv):
		arg = g.argv[g.index]
		g.index++
		return c, arg, true
	}
	fmt.Fprintf(g.stderr, "%s: option requires an argument -- '%c'\n", g.argv[0], c)
	g.optopt = c
	return '?', "", true
}

// advance moves index to the next option word, skipping operands (which GNU getopt permutes to the end).
func (g *getopt) advance() bool {
	for !g.done && g.index < len(g.argv) {
		word := g.argv[g.index]
		if word == "--" {
			g.done = true
			return false
		}
		if len(word) > 1 && word[0] == '-' {
			return true
		}
		if g.posix {
			g.done = true
			return false
		}
		g.index++
	}
	return false
}

func (g *getopt) longOpt(text string) (byte, string, bool) {
	name, value, hasValue := strings.Cut(text, "=")
	var found *longOption
	var candidates []*longOption
	for i := range g.long {
		o := &g.long[i]
		if o.name == name {
			found = o
			break
		}
		if strings.HasPrefix(o.name, name) {
			candidates = append(candidates, o)
		}
	}
	if found == nil && len(candidates) == 1 {
		found = candidates[0]
	}
	if found == nil {
		g.optopt = 0
		if len(candidates) > 1 {
			fmt.Fprintf(g.stderr, "%s: option '--%s' is ambiguous; possibilities:", g.argv[0], text)
			for _, o := range candidates {
				fmt.Fprintf(g.stderr, " '--%s'", o.name)
			}
			g.stderr.WriteString("\n")
		} else {
			fmt.Fprintf(g.stderr, "%s: unrecognized option '--%s'\n", g.argv[0], text)
		}
		return '?', "", true
	}
	switch {
	case hasValue && found.arg == noArgument:
		fmt.Fprintf(g.stderr, "%s: option '--%s' doesn't allow an argument\n", g.argv[0], found.name)
		g.optopt = found.val
		return '?', "", true
	case hasValue:
		return found.val, value, true
	case found.arg == requiredArgument && g.index < len(g.argv):
		value = g.argv[g.index]
		g.index++
		return found.val, value, true
	case found.arg == requiredArgument:
		fmt.Fprintf(g.stderr, "%s: option '--%s' requires an argument\n", g.argv[0], found.name)
		g.optopt = found.val
		return '?', "", true
	}
	return found.val, "", true
}
