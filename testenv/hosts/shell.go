package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The simulated machines have no real shell. sshd hands every command line to the user's login shell
// (`bash -c LINE`), so this file reads command lines the way bash would for the subset commands here need:
// words with single quotes, double quotes and backslashes; lists joined by ";", "&&" and "||"; output
// redirections (">", ">>", "2>", "2>>", ">&2", "2>&1"); input redirections ("<", "0<") from /dev/null and,
// in bash, from /dev/tcp/HOST/PORT, which opens a TCP connection. `sh -c` (dash on Debian and Ubuntu) and
// `bash -c` re-enter it with their own wording of errors. Anything a real shell would do beyond that (pipes,
// variables, globs, subshells, here-documents, input from files) is refused with errUnsupportedSyntax or an
// "osdr-sim:" message rather than guessed at.

// dialect is how one shell words its own errors.
type dialect struct {
	name string
	// notFound is the message for a command the PATH does not hold.
	notFound func(name string) string
	// openFailed is the message and status for a redirection the shell could not open.
	openFailed func(path string, err error) (string, int)
	// unexpected is the message for a syntax error at token (bash also echoes the line).
	unexpected   func(token, line string) string
	unterminated func(quote byte) string
	// echoEscapes: dash's echo interprets backslash escapes, bash's does not without -e.
	echoEscapes bool
	// netPaths: the shell opens /dev/tcp/HOST/PORT as a TCP connection (bash; dash opens the path as a file).
	netPaths bool
}

var bash = dialect{
	name: "bash",
	notFound: func(name string) string {
		if strings.Contains(name, "/") {
			return fmt.Sprintf("bash: line 1: %s: No such file or directory\n", name)
		}
		return fmt.Sprintf("bash: line 1: %s: command not found\n", name)
	},
	openFailed: func(path string, err error) (string, int) {
		return fmt.Sprintf("bash: line 1: %s: %v\n", path, err), 1
	},
	unexpected: func(token, line string) string {
		return fmt.Sprintf("bash: -c: line 1: syntax error near unexpected token `%s'\nbash: -c: line 1: `%s'\n", token, line)
	},
	unterminated: func(quote byte) string {
		return fmt.Sprintf("bash: -c: line 1: unexpected EOF while looking for matching `%c'\n", quote)
	},
	netPaths: true,
}

var dash = dialect{
	name: "sh",
	notFound: func(name string) string {
		return fmt.Sprintf("sh: 1: %s: not found\n", name)
	},
	openFailed: func(path string, err error) (string, int) {
		return fmt.Sprintf("sh: 1: cannot create %s: %v\n", path, err), 2
	},
	unexpected: func(token, _ string) string {
		if token == "newline" {
			return "sh: 1: Syntax error: newline unexpected\n"
		}
		return fmt.Sprintf("sh: 1: Syntax error: \"%s\" unexpected\n", token)
	},
	unterminated: func(byte) string { return "sh: 1: Syntax error: Unterminated quoted string\n" },
	echoEscapes:  true,
}

// syntaxExit is the status both shells give a script they cannot parse.
const syntaxExit = 2

// notSimulated is the status of anything the simulation refuses to guess at; its message always starts with
// "osdr-sim:" so that no test mistakes it for a real tool's answer.
const notSimulated = 1

var errUnsupportedSyntax = errors.New("unsupported shell syntax")

type tokenKind int

const (
	wordToken tokenKind = iota
	listToken           // ; && ||
	redirectToken
)

type token struct {
	kind tokenKind
	text string // the word after quote removal, or the operator
	// A redirection's file descriptor and form; the word after it is the file, or N for ">&N".
	fd     int
	append bool
	dup    bool
	input  bool
}

// shellSyntaxError is a script the shell itself rejects; message is already in the dialect's words.
type shellSyntaxError struct{ message string }

func (e *shellSyntaxError) Error() string { return e.message }

// tokenize splits one line into words and operators.
func tokenize(d dialect, line string) ([]token, error) {
	var tokens []token
	var word strings.Builder
	inWord, quoted := false, false
	flush := func() {
		if inWord {
			tokens = append(tokens, token{kind: wordToken, text: word.String()})
		}
		word.Reset()
		inWord, quoted = false, false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			for i+1 < len(line) && line[i+1] != '\n' {
				i++
			}
		case c == ';' && strings.HasPrefix(line[i:], ";;"):
			// The terminator of a case item, an error everywhere else.
			flush()
			tokens = append(tokens, token{kind: listToken, text: ";;"})
			i++
		case c == '\n' || c == ';':
			flush()
			tokens = append(tokens, token{kind: listToken, text: ";"})
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, &shellSyntaxError{d.unterminated('\'')}
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord, quoted = true, true
		case c == '"':
			j, err := readDoubleQuoted(d, line, i+1, &word)
			if err != nil {
				return nil, err
			}
			i = j
			inWord, quoted = true, true
		case c == '\\':
			if i+1 < len(line) {
				i++
				if line[i] != '\n' {
					word.WriteByte(line[i])
					inWord = true
				}
			}
		case c == '&' && strings.HasPrefix(line[i:], "&&"):
			flush()
			tokens = append(tokens, token{kind: listToken, text: "&&"})
			i++
		case c == '|' && strings.HasPrefix(line[i:], "||"):
			flush()
			tokens = append(tokens, token{kind: listToken, text: "||"})
			i++
		case c == '>':
			fd := 1
			if inWord && !quoted && (word.String() == "1" || word.String() == "2") {
				fd = int(word.String()[0] - '0')
				word.Reset()
				inWord = false
			}
			flush()
			t := token{kind: redirectToken, text: ">", fd: fd}
			if strings.HasPrefix(line[i:], ">>") {
				t.text, t.append = ">>", true
				i++
			} else if strings.HasPrefix(line[i:], ">&") {
				t.text, t.dup = ">&", true
				i++
			}
			tokens = append(tokens, t)
		case c == '<':
			if inWord && !quoted && word.String() == "0" {
				word.Reset()
				inWord = false
			}
			flush()
			// Here-documents, here-strings, <& and <> duplicate or open both ways; <( substitutes a process.
			if i+1 < len(line) && strings.IndexByte("<&>(", line[i+1]) >= 0 {
				return nil, fmt.Errorf("%w %q", errUnsupportedSyntax, line[i:i+2])
			}
			tokens = append(tokens, token{kind: redirectToken, text: "<", input: true})
		case strings.IndexByte("|&()$`*?{}", c) >= 0 || c == '~' && !inWord:
			return nil, fmt.Errorf("%w %q", errUnsupportedSyntax, string(c))
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return tokens, nil
}

// readDoubleQuoted reads a "..." string whose opening quote is at start-1 and returns the index of its
// closing quote. Inside, a backslash escapes only $ ` " \ and newline; $ and ` would expand.
func readDoubleQuoted(d dialect, line string, start int, word *strings.Builder) (int, error) {
	for i := start; i < len(line); i++ {
		switch c := line[i]; c {
		case '"':
			return i, nil
		case '\\':
			if i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
				i++
				if line[i] != '\n' {
					word.WriteByte(line[i])
				}
				continue
			}
			word.WriteByte(c)
		case '$', '`':
			return 0, fmt.Errorf("%w %q", errUnsupportedSyntax, string(c))
		default:
			word.WriteByte(c)
		}
	}
	return 0, &shellSyntaxError{d.unterminated('"')}
}

type redirect struct {
	fd     int
	append bool
	dupTo  int // 1 or 2 for ">&N"; 0 when the target is a file
	path   string
	// input: "< path", the command's standard input.
	input bool
}

type simpleCommand struct {
	words     []string
	redirects []redirect
	// op joins this command to the previous one: "" for the first, ";", "&&" or "||".
	op string
}

// parse turns one script into the commands of its list.
func parse(d dialect, script string) ([]simpleCommand, error) {
	tokens, err := tokenize(d, script)
	if err != nil {
		return nil, err
	}
	var commands []simpleCommand
	current := simpleCommand{}
	pendingOp := ""
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		switch t.kind {
		case wordToken:
			current.words = append(current.words, t.text)
		case redirectToken:
			if i+1 >= len(tokens) || tokens[i+1].kind != wordToken {
				next := "newline"
				if i+1 < len(tokens) {
					next = tokens[i+1].text
				}
				return nil, &shellSyntaxError{d.unexpected(next, script)}
			}
			i++
			r := redirect{fd: t.fd, append: t.append, path: tokens[i].text, input: t.input}
			if t.dup {
				if r.path != "1" && r.path != "2" {
					return nil, fmt.Errorf("%w \">&%s\"", errUnsupportedSyntax, r.path)
				}
				r.dupTo, r.path = int(r.path[0]-'0'), ""
			}
			current.redirects = append(current.redirects, r)
		case listToken:
			if t.text == ";;" || len(current.words) == 0 && len(current.redirects) == 0 {
				return nil, &shellSyntaxError{d.unexpected(t.text, script)}
			}
			current.op = pendingOp
			commands = append(commands, current)
			current = simpleCommand{}
			pendingOp = t.text
		}
	}
	if len(current.words) > 0 || len(current.redirects) > 0 {
		current.op = pendingOp
		commands = append(commands, current)
	} else if pendingOp == "&&" || pendingOp == "||" {
		return nil, &shellSyntaxError{d.unexpected("newline", script)}
	}
	return commands, nil
}

// program is one command a machine can run: it writes to stdout and stderr and returns its exit status.
type program func(x *execution, argv []string) int

// execution is what a running command sees of its machine and its session.
type execution struct {
	machine machine
	stdout  io.Writer
	stderr  io.Writer
	// root: the command runs as root (the login is root, or under sudo).
	root bool
	// drop is set by a command that ends the SSH connection without an exit status (a reboot).
	drop bool
	// spent is the modelled time the programs of one command line have taken, shared by every execution
	// of it: the machine makes the command's changes at once and answers once this time has passed, so
	// that the time can be waited out without holding the cluster (see Cluster.runOnHost).
	spent *time.Duration
}

// spend adds a program's modelled duration to its command line.
func (x *execution) spend(d time.Duration) { *x.spent += d }

// machine is a simulated host or guest as its shell sees it.
type machine interface {
	// lookup finds a program by name or by absolute path.
	lookup(name string) (program, bool)
	// create opens path for writing ("> path" truncates it, ">> path" appends) and returns what stores the
	// bytes a redirected command wrote once it finished.
	create(x *execution, path string, append bool) (func(data []byte), error)
}

// errString is an errno as strerror words it, which is how the tools print it.
type errString string

func (e errString) Error() string { return string(e) }

const (
	errNoEntry     errString = "No such file or directory"
	errIO          errString = "Input/output error"
	errIsDirectory errString = "Is a directory"
	errPermission  errString = "Permission denied"
	// errNotSimulated is a path the machine does not model, worded so that no test mistakes it for errno.
	errNotSimulated errString = "osdr-sim: this file is not simulated"
)

// runScript runs a script in dialect d and returns its exit status.
func runScript(x *execution, d dialect, script string) int {
	commands, err := parse(d, script)
	var syntaxErr *shellSyntaxError
	switch {
	case errors.As(err, &syntaxErr):
		io.WriteString(x.stderr, syntaxErr.message)
		return syntaxExit
	case err != nil:
		fmt.Fprintf(x.stderr, "osdr-sim: %s: %v (the simulated shell runs simple commands joined by ; && || with > >> redirections)\n", d.name, err)
		return notSimulated
	}
	status := 0
	for _, c := range commands {
		if c.op == "&&" && status != 0 || c.op == "||" && status == 0 {
			continue
		}
		status = runCommand(x, d, c)
		if x.drop {
			return status
		}
	}
	return status
}

// runCommand applies a command's redirections in order, as the shell does before it executes the command.
func runCommand(x *execution, d dialect, c simpleCommand) int {
	fds := map[int]io.Writer{1: x.stdout, 2: x.stderr}
	type pending struct {
		store func([]byte)
		buf   *bytes.Buffer
	}
	var files []pending
	for _, r := range c.redirects {
		if r.input {
			if status := openInput(x, d, r.path); status != 0 {
				return status
			}
			continue
		}
		if r.dupTo != 0 {
			fds[r.fd] = fds[r.dupTo]
			continue
		}
		if r.path == "/dev/null" {
			fds[r.fd] = io.Discard
			continue
		}
		store, err := x.machine.create(x, r.path, r.append)
		if err != nil {
			message, status := d.openFailed(r.path, err)
			io.WriteString(x.stderr, message)
			return status
		}
		buf := &bytes.Buffer{}
		files = append(files, pending{store, buf})
		fds[r.fd] = buf
	}
	if len(c.words) == 0 {
		return 0
	}
	inner := &execution{machine: x.machine, stdout: fds[1], stderr: fds[2], root: x.root, spent: x.spent}
	status := execute(inner, d, c.words)
	x.drop = inner.drop
	for _, f := range files {
		f.store(f.buf.Bytes())
	}
	return status
}

// execute runs one command: a builtin of the shell, or a program the machine has.
func execute(x *execution, d dialect, argv []string) int {
	if builtin, ok := builtins[argv[0]]; ok {
		return builtin(x, d, argv)
	}
	p, ok := x.machine.lookup(argv[0])
	if !ok {
		io.WriteString(x.stderr, d.notFound(argv[0]))
		return 127
	}
	return p(x, argv)
}

type builtin func(x *execution, d dialect, argv []string) int

// builtins of both shells; the machines also have them as programs (/usr/bin/echo, ...) for sudo.
var builtins = map[string]builtin{
	":":     func(*execution, dialect, []string) int { return 0 },
	"echo":  echoBuiltin,
	"true":  func(*execution, dialect, []string) int { return 0 },
	"false": func(*execution, dialect, []string) int { return 1 },
	"test":  testBuiltin,
	"[":     testBuiltin,
}

func echoBuiltin(x *execution, d dialect, argv []string) int {
	args := argv[1:]
	newline := true
	if len(args) > 0 && args[0] == "-n" {
		newline, args = false, args[1:]
	}
	text := strings.Join(args, " ")
	if d.echoEscapes && strings.Contains(text, `\`) {
		fmt.Fprintf(x.stderr, "osdr-sim: %s: echo with backslash escapes is not simulated\n", d.name)
		return notSimulated
	}
	if newline {
		text += "\n"
	}
	io.WriteString(x.stdout, text)
	return 0
}

// network is a machine that opens TCP connections beyond SSH.
type network interface {
	// connect opens and closes one TCP connection to addr; the error is the errno connect(2) failed with.
	connect(addr netip.AddrPort) error
}

const errConnectionRefused errString = "Connection refused"

// openInput opens path for a command's standard input and returns 0, or the shell's status when the open
// failed. The simulated programs read no input, so only whether the open succeeds matters: /dev/null always
// opens; in bash, /dev/tcp/HOST/PORT connects to HOST's PORT (bash's own path, not a device), and a refused
// connection fails the command with status 1 as any failed redirection does.
func openInput(x *execution, d dialect, path string) int {
	if path == "/dev/null" {
		return 0
	}
	rest, ok := strings.CutPrefix(path, "/dev/tcp/")
	if !d.netPaths || !ok {
		fmt.Fprintf(x.stderr, "osdr-sim: %s: input from %s is not simulated (only /dev/null, and /dev/tcp/HOST/PORT in bash)\n", d.name, path)
		return notSimulated
	}
	host, port, found := strings.Cut(rest, "/")
	if !found {
		// Not bash's HOST/PORT form: the path itself, which no Debian machine has.
		message, status := d.openFailed(path, errNoEntry)
		io.WriteString(x.stderr, message)
		return status
	}
	ip, ipErr := netip.ParseAddr(host)
	number, portErr := strconv.ParseUint(port, 10, 16)
	n, isNetwork := x.machine.(network)
	if ipErr != nil || portErr != nil || !isNetwork {
		fmt.Fprintf(x.stderr, "osdr-sim: %s: %s is not simulated (only /dev/tcp/IP/PORT, with a numeric address and port, from a compute host)\n", d.name, path)
		return notSimulated
	}
	if err := n.connect(netip.AddrPortFrom(ip.Unmap(), uint16(number))); err != nil {
		// bash reports the failed connect(2), then the redirection it was opening.
		fmt.Fprintf(x.stderr, "%s: connect: %v\n", d.name, err)
		message, status := d.openFailed(path, err)
		io.WriteString(x.stderr, message)
		return status
	}
	return 0
}

// fileTester answers test's file operators; machines that have files implement it.
type fileTester interface {
	// fileType returns "b" for a block device, "f" for a regular file, "d" for a directory, "" when absent;
	// simulated is false for a path the machine does not model.
	fileType(path string) (kind string, simulated bool)
}

// testBuiltin evaluates the unary file tests (-b -e -f -d PATH), and nothing else.
func testBuiltin(x *execution, d dialect, argv []string) int {
	args := argv[1:]
	if argv[0] == "[" {
		if len(args) == 0 || args[len(args)-1] != "]" {
			fmt.Fprintf(x.stderr, "%s: line 1: [: missing `]'\n", d.name)
			return syntaxExit
		}
		args = args[:len(args)-1]
	}
	if len(args) == 0 {
		return 1
	}
	tester, ok := x.machine.(fileTester)
	var kind string
	if ok && len(args) == 2 && slices.Contains([]string{"-b", "-e", "-f", "-d"}, args[0]) {
		kind, ok = tester.fileType(args[1])
	}
	if !ok || len(args) != 2 {
		fmt.Fprintf(x.stderr, "osdr-sim: %s: test %s is not simulated (only -b -e -f -d PATH, for the paths a machine models)\n", d.name, strings.Join(args, " "))
		return notSimulated
	}
	if kind != "" && (args[0] == "-e" || args[0][1:] == kind) {
		return 0
	}
	return 1
}

// shellProgram is sh or bash run as a program: only `-c SCRIPT` (what ssh and scripts use).
func shellProgram(d dialect) program {
	return func(x *execution, argv []string) int {
		if len(argv) < 3 || argv[1] != "-c" {
			fmt.Fprintf(x.stderr, "osdr-sim: %s: only `%s -c SCRIPT` is simulated\n", strings.Join(argv, " "), d.name)
			return notSimulated
		}
		return runScript(x, d, argv[2])
	}
}

// sudoProgram runs its command as root; every simulated login may, without a password, as the default user
// of a cloud image may. It executes programs, not builtins, as the real sudo does.
func sudoProgram(x *execution, argv []string) int {
	args := argv[1:]
	if len(args) > 0 && args[0] == "-n" {
		args = args[1:]
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(x.stderr, "osdr-sim: %s: only `sudo [-n] COMMAND...` is simulated\n", strings.Join(argv, " "))
		return notSimulated
	}
	p, ok := x.machine.lookup(args[0])
	if !ok {
		fmt.Fprintf(x.stderr, "sudo: %s: command not found\n", args[0])
		return 1
	}
	asRoot := *x
	asRoot.root = true
	status := p(&asRoot, args)
	x.drop = asRoot.drop
	return status
}

// builtinAsProgram is the coreutils twin of a shell builtin (/usr/bin/echo, /usr/bin/test), as sudo runs it.
func builtinAsProgram(name string) program {
	return func(x *execution, argv []string) int {
		return builtins[name](x, bash, append([]string{name}, argv[1:]...))
	}
}

// commonPrograms are in /usr/bin on every simulated machine.
var commonPrograms = map[string]program{
	"sh":      shellProgram(dash),
	"bash":    shellProgram(bash),
	"sudo":    sudoProgram,
	"timeout": timeoutProgram,
	"echo":    builtinAsProgram("echo"),
	"true":    builtinAsProgram("true"),
	"false":   builtinAsProgram("false"),
	"test":    builtinAsProgram("test"),
	"[":       builtinAsProgram("["),
}

// resolve finds name among programs the way execvp with a Debian PATH does: a bare name in any directory,
// an absolute path only where the program is installed (/usr/bin or /usr/sbin, and their /bin and /sbin
// aliases on merged-/usr systems).
func resolve(name string, bin, sbin map[string]program) (program, bool) {
	if !strings.Contains(name, "/") {
		if p, ok := sbin[name]; ok {
			return p, true
		}
		p, ok := bin[name]
		return p, ok
	}
	dir, base, _ := cutLast(name, "/")
	switch dir {
	case "/usr/sbin", "/sbin":
		p, ok := sbin[base]
		return p, ok
	case "/usr/bin", "/bin":
		p, ok := bin[base]
		return p, ok
	}
	return nil, false
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
