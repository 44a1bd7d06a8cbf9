package hosts

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// virsh reproduces libvirt 7+'s virsh for `list`, `destroy` and `start` against the host's domains: the
// table vshTable draws, the blank line vshCommandRun prints after every command (unless --quiet), "error: "
// lines on stderr and exit status 1 on failure. Other commands and options answer with an "osdr-sim:" message.

type virshRun struct {
	c      *Cluster
	h      *host
	quiet  bool
	stdout io.Writer
	stderr io.Writer
}

// virshCommand is a command's options after vshCommandParse: booleans by name and the one data argument.
type virshCommand struct {
	name  string
	bools map[string]bool
	// domain is the <domain> argument, given as data or as --domain.
	domain    string
	hasDomain bool
}

// virshCommands lists, per simulated command, the boolean options the simulation reproduces and whether it
// takes a <domain>.
var virshCommands = map[string]struct {
	bools      []string
	takeDomain bool
}{
	"list":    {bools: []string{"all", "inactive", "name"}},
	"destroy": {takeDomain: true},
	"start":   {takeDomain: true},
}

func (c *Cluster) virshProgram(h *host) program {
	return func(x *execution, argv []string) int {
		r := &virshRun{c: c, h: h, stdout: x.stdout, stderr: x.stderr}
		return r.main(argv)
	}
}

func (r *virshRun) main(argv []string) int {
	args := argv[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "-q" || args[0] == "--quiet":
			r.quiet = true
			args = args[1:]
		case (args[0] == "-c" || args[0] == "--connect") && len(args) > 1 && args[1] == "qemu:///system":
			args = args[2:]
		case args[0] == "--connect=qemu:///system":
			args = args[1:]
		default:
			return r.notSimulated(fmt.Sprintf("option %s", args[0]))
		}
	}
	if len(args) == 0 {
		return r.notSimulated("the interactive shell")
	}
	cmd, status, ok := r.parse(args)
	if !ok {
		return status
	}
	succeeded := r.run(cmd)
	// vshCommandRun ends every command, failed or not, with an empty line (vshPrintExtra: not when quiet).
	r.extra("\n")
	if !succeeded {
		return 1
	}
	return 0
}

func (r *virshRun) notSimulated(what string) int {
	fmt.Fprintf(r.stderr, "osdr-sim: virsh: %s is not simulated (simulated: list [--all|--inactive] [--name], destroy DOMAIN, start DOMAIN)\n", what)
	return notSimulated
}

func (r *virshRun) error(format string, args ...any) {
	fmt.Fprintf(r.stderr, "error: "+format+"\n", args...)
}

// extra is vshPrintExtra: output that --quiet suppresses.
func (r *virshRun) extra(format string, args ...any) {
	if !r.quiet {
		fmt.Fprintf(r.stdout, format, args...)
	}
}

// parse is vshCommandParse for the simulated commands; a syntax error ends virsh before any command runs.
func (r *virshRun) parse(args []string) (virshCommand, int, bool) {
	def, ok := virshCommands[args[0]]
	if !ok {
		return virshCommand{}, r.notSimulated("command " + strconv.Quote(args[0])), false
	}
	cmd := virshCommand{name: args[0], bools: map[string]bool{}}
	dataOnly := false
	for i := 1; i < len(args); i++ {
		arg := args[i]
		switch {
		case !dataOnly && arg == "--":
			dataOnly = true
		case !dataOnly && strings.HasPrefix(arg, "--") && len(arg) > 2:
			name, value, hasValue := strings.Cut(arg[2:], "=")
			switch {
			case name == "domain" && def.takeDomain:
				if !hasValue {
					if i+1 >= len(args) {
						r.error("expected syntax: --domain <string>")
						return cmd, 1, false
					}
					i++
					value = args[i]
				}
				cmd.domain, cmd.hasDomain = value, true
			case slices.Contains(def.bools, name) && !hasValue:
				cmd.bools[name] = true
			default:
				return cmd, r.notSimulated(fmt.Sprintf("%s option --%s", cmd.name, name)), false
			}
		case def.takeDomain && !cmd.hasDomain:
			cmd.domain, cmd.hasDomain = arg, true
		default:
			r.error("unexpected data '%s'", arg)
			return cmd, 1, false
		}
	}
	if def.takeDomain && !cmd.hasDomain {
		r.error("command '%s' requires <domain> option", cmd.name)
		return cmd, 1, false
	}
	return cmd, 0, true
}

func (r *virshRun) run(cmd virshCommand) bool {
	switch cmd.name {
	case "list":
		r.list(cmd)
		return true
	case "destroy":
		return r.destroy(cmd.domain)
	default:
		return r.start(cmd.domain)
	}
}

// list prints cmdList's table: running domains by id, then the others by name (vshStrcasecmp).
func (r *virshRun) list(cmd virshCommand) {
	var shown []*domain
	for _, d := range r.h.domains {
		if cmd.bools["all"] || cmd.bools["inactive"] && !d.running() || !cmd.bools["inactive"] && d.running() {
			shown = append(shown, d)
		}
	}
	slices.SortFunc(shown, func(a, b *domain) int {
		switch {
		case a.running() && b.running():
			return a.id - b.id
		case a.running():
			return -1
		case b.running():
			return 1
		}
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	if cmd.bools["name"] {
		for _, d := range shown {
			fmt.Fprintf(r.stdout, "%s\n", d.name)
		}
		return
	}
	rows := [][]string{{"Id", "Name", "State"}}
	for _, d := range shown {
		id, state := "-", "shut off"
		if d.running() {
			id, state = strconv.Itoa(d.id), "running"
		}
		rows = append(rows, []string{id, d.name, state})
	}
	io.WriteString(r.stdout, vshTable(rows, !r.quiet))
}

// vshTable draws rows like libvirt's vshTablePrint: each cell after a space, columns padded to their widest
// cell plus two spaces (the last one not at all), and under the header a rule of dashes three wider than
// each column.
func vshTable(rows [][]string, header bool) string {
	widths := make([]int, len(rows[0]))
	first := 1
	if header {
		first = 0
	}
	for _, row := range rows[first:] {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	printRow := func(row []string) {
		for i, cell := range row {
			b.WriteString(" " + cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2))
			}
		}
		b.WriteString("\n")
	}
	if header {
		printRow(rows[0])
		for _, w := range widths {
			b.WriteString(strings.Repeat("-", w+3))
		}
		b.WriteString("\n")
	}
	for _, row := range rows[1:] {
		printRow(row)
	}
	return b.String()
}

// lookup is virshLookupDomainBy: by id (running domains), by UUID, then by name.
func (r *virshRun) lookup(name string, byID bool) *domain {
	if id, err := strconv.Atoi(name); byID && err == nil && id >= 0 {
		for _, d := range r.h.domains {
			if d.running() && d.id == id {
				return d
			}
		}
	}
	if len(name) == 36 {
		for _, d := range r.h.domains {
			if strings.EqualFold(d.uuid, name) {
				return d
			}
		}
	}
	if d, ok := r.h.domains[name]; ok {
		return d
	}
	r.error("failed to get domain '%s'", name)
	return nil
}

func (r *virshRun) destroy(name string) bool {
	d := r.lookup(name, true)
	if d == nil {
		return false
	}
	if !d.running() {
		r.error("Failed to destroy domain '%s'", name)
		r.error("Requested operation is not valid: domain is not running")
		return false
	}
	r.c.stopDomain(r.h, d)
	r.extra("Domain '%s' destroyed\n", name)
	return true
}

func (r *virshRun) start(name string) bool {
	d := r.lookup(name, false)
	if d == nil {
		return false
	}
	if d.running() {
		r.error("Domain is already active")
		return false
	}
	if err := r.c.startDomain(r.h, d); err != nil {
		r.error("Failed to start domain '%s'", d.name)
		r.error("%v", err)
		return false
	}
	r.extra("Domain '%s' started\n", d.name)
	return true
}
