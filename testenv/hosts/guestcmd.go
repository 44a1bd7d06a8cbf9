package hosts

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// A guest answers what a verification needs of an Ubuntu cloud image: its boot id and uptime, its block
// devices (lsblk, test -b) and mounts, its fstab, and small files on its volumes (cat FILE, and the shell's
// "echo TEXT > FILE"). Writing a volume's files needs root, as on a real image (use sudo sh -c '...').
// `shutdown -r now` and `reboot` restart it from inside.

// guestMachine is a guest as its shell sees it while one command runs.
type guestMachine struct {
	c *Cluster
	g *guest
	d *domain
}

// What a guest's commands take on a real cloud image at the latency model's scale 1: every command line pays
// for sshd opening a session and the login shell starting, within which a small program reading /proc or
// /etc has answered; a file on a volume comes off its disk through the host's iSCSI session, cold as it is
// after a power loss or a reattach.
const (
	guestCommandDuration = 30 * time.Millisecond
	volumeReadDuration   = 250 * time.Millisecond
)

// runOnGuest runs one command line over SSH. A guest that is not up any more drops the connection. As on a
// host (Cluster.runOnHost), the command's changes are made at once and its answer comes once its modelled
// time has passed; a guest answers one command after another, whatever the number of connections.
func (c *Cluster) runOnGuest(g *guest, command string) commandResult {
	c.mu.Lock()
	d := c.guestDomain(g)
	if g.stage != StageUp || d == nil {
		c.mu.Unlock()
		return commandResult{drop: true}
	}
	var stdout, stderr bytes.Buffer
	spent := c.scaled(guestCommandDuration)
	x := &execution{machine: &guestMachine{c: c, g: g, d: d}, stdout: &stdout, stderr: &stderr, root: g.spec.User == "root", spent: &spent}
	status := runScript(x, bash, command)
	g.history = append(g.history, CommandRecord{Command: command, ExitCode: status, Dropped: x.drop, At: time.Now(), Took: spent})
	c.mu.Unlock()
	if spent > 0 {
		g.busy.Lock()
		time.Sleep(spent)
		g.busy.Unlock()
	}
	return commandResult{stdout: stdout.Bytes(), stderr: stderr.Bytes(), exit: status, drop: x.drop}
}

func (m *guestMachine) lookup(name string) (program, bool) {
	bin := map[string]program{
		"cat":       m.cat,
		"lsblk":     m.lsblk,
		"mount":     m.mountList,
		"sync":      func(*execution, []string) int { return 0 },
		"systemctl": m.systemctl,
	}
	maps.Copy(bin, commonPrograms)
	sbin := map[string]program{"shutdown": m.shutdown, "reboot": m.reboot}
	return resolve(name, bin, sbin)
}

func (m *guestMachine) home() string {
	if m.g.spec.User == "root" {
		return "/root"
	}
	return "/home/" + m.g.spec.User
}

// absolute resolves p against the home directory, as a login shell's working directory.
func (m *guestMachine) absolute(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = m.home() + "/" + p
	}
	return path.Clean(p)
}

// isDirectory knows the image's top-level directories, the home directory and the mount points.
func (m *guestMachine) isDirectory(p string) bool {
	switch p {
	case "/", "/boot", "/dev", "/etc", "/home", "/proc", "/root", "/run", "/sys", "/tmp", "/usr", "/var", m.home():
		return true
	}
	return slices.ContainsFunc(m.g.spec.Fstab, func(e FstabEntry) bool { return e.MountPoint == p })
}

// mountOf finds the mounted volume holding p and p's name inside it ("" for the mount point itself).
func (m *guestMachine) mountOf(p string) (*mount, string) {
	for i := range m.g.mounts {
		mt := &m.g.mounts[i]
		if p == mt.entry.MountPoint {
			return mt, ""
		}
		if rest, ok := strings.CutPrefix(p, mt.entry.MountPoint+"/"); ok {
			return mt, rest
		}
	}
	return nil, ""
}

// readable: the disk under a mount still answers. A disk unplugged or whose iSCSI session was logged out
// fails every I/O, though the mount stays in place.
func (m *guestMachine) readable(mt *mount) bool {
	k := m.d.disk(mt.volumeID)
	return k != nil && k.healthy()
}

func (m *guestMachine) blockDevices() []string {
	root := m.g.spec.rootDevice()
	devices := []string{root, root + "1"}
	for _, k := range m.d.disks {
		if k.conn.Device != root {
			devices = append(devices, k.conn.Device)
		}
	}
	return devices
}

func (m *guestMachine) readFile(p string) ([]byte, error) {
	p = m.absolute(p)
	switch p {
	case "/proc/sys/kernel/random/boot_id":
		return []byte(m.g.bootID + "\n"), nil
	case "/proc/uptime":
		up := time.Since(m.g.bootedAt).Seconds()
		return fmt.Appendf(nil, "%.2f %.2f\n", up, up*0.97), nil
	case "/etc/fstab":
		return m.fstab(), nil
	}
	if mt, name := m.mountOf(p); mt != nil {
		switch {
		case !m.readable(mt):
			return nil, errIO
		case name == "":
			return nil, errIsDirectory
		}
		if data, ok := m.c.volumes[mt.volumeID][name]; ok {
			return data, nil
		}
		return nil, errNoEntry
	}
	if m.isDirectory(p) {
		return nil, errIsDirectory
	}
	if slices.Contains(m.blockDevices(), p) {
		return nil, errPermission // block devices are root's and the disk group's
	}
	if data, ok := m.g.files[p]; ok {
		return data, nil
	}
	for _, system := range []string{"/boot/", "/dev/", "/etc/", "/proc/", "/run/", "/sys/", "/usr/", "/var/"} {
		if strings.HasPrefix(p, system) && !strings.HasPrefix(p, "/dev/vd") && !strings.HasPrefix(p, "/dev/sd") {
			return nil, errNotSimulated // the image's own files
		}
	}
	return nil, errNoEntry
}

// create opens p for a redirection, checking in the kernel's order: the path, then the permission, then the
// disk. Files on a volume are flat: the simulation keeps no subdirectories.
func (m *guestMachine) create(x *execution, p string, appending bool) (func([]byte), error) {
	p = m.absolute(p)
	if m.isDirectory(p) {
		return nil, errIsDirectory
	}
	if mt, name := m.mountOf(p); mt != nil {
		switch {
		case !m.readable(mt):
			return nil, errIO
		case strings.Contains(name, "/"):
			return nil, errNoEntry
		case !x.root:
			return nil, errPermission // a file system's root directory belongs to root
		}
		files := m.c.volumes[mt.volumeID]
		if files == nil {
			files = map[string][]byte{}
			m.c.volumes[mt.volumeID] = files
		}
		if !appending {
			files[name] = nil
		}
		return func(data []byte) { files[name] = append(files[name], data...) }, nil
	}
	parent := path.Dir(p)
	switch {
	case !m.isDirectory(parent):
		return nil, errNoEntry
	case parent == "/proc" || parent == "/sys" || parent == "/dev":
		return nil, errPermission
	case parent != "/tmp" && parent != m.home() && !x.root:
		return nil, errPermission
	}
	if !appending {
		m.g.files[p] = nil
	}
	return func(data []byte) { m.g.files[p] = append(m.g.files[p], data...) }, nil
}

func (m *guestMachine) fileType(p string) (string, bool) {
	p = m.absolute(p)
	switch {
	case slices.Contains(m.blockDevices(), p):
		return "b", true
	case m.isDirectory(p):
		return "d", true
	}
	switch _, err := m.readFile(p); err {
	case nil:
		return "f", true
	case errNotSimulated:
		return "", false
	}
	return "", true
}

func (m *guestMachine) fstab() []byte {
	var b bytes.Buffer
	b.WriteString("LABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n")
	for _, e := range m.g.spec.Fstab {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t0 2\n", e.Device, e.MountPoint, e.FSType, e.Options)
	}
	return b.Bytes()
}

// cat prints files; it reads no standard input here, so it needs at least one file and no options.
func (m *guestMachine) cat(x *execution, argv []string) int {
	if len(argv) == 1 || slices.ContainsFunc(argv[1:], func(a string) bool { return strings.HasPrefix(a, "-") }) {
		fmt.Fprintf(x.stderr, "osdr-sim: cat %s: only `cat FILE...` is simulated\n", strings.Join(argv[1:], " "))
		return notSimulated
	}
	status := 0
	for _, name := range argv[1:] {
		if mt, _ := m.mountOf(m.absolute(name)); mt != nil {
			x.spend(m.c.scaled(volumeReadDuration))
		}
		data, err := m.readFile(name)
		if err != nil {
			fmt.Fprintf(x.stderr, "cat: %s: %v\n", name, err)
			status = 1
			continue
		}
		x.stdout.Write(data)
	}
	return status
}

// mountList is `mount` without arguments: the kernel's pseudo file systems, the root disk, then the volumes
// in the order they were mounted.
func (m *guestMachine) mountList(x *execution, argv []string) int {
	if len(argv) > 1 {
		fmt.Fprintf(x.stderr, "osdr-sim: mount %s: only `mount` (listing) is simulated\n", strings.Join(argv[1:], " "))
		return notSimulated
	}
	io.WriteString(x.stdout, ""+
		"sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime)\n"+
		"proc on /proc type proc (rw,nosuid,nodev,noexec,relatime)\n"+
		"udev on /dev type devtmpfs (rw,nosuid,relatime,size=475192k,nr_inodes=118798,mode=755,inode64)\n"+
		"devpts on /dev/pts type devpts (rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000)\n"+
		"tmpfs on /run type tmpfs (rw,nosuid,nodev,noexec,relatime,size=99504k,mode=755,inode64)\n"+
		"/dev/vda1 on / type ext4 (rw,relatime,discard,errors=remount-ro)\n")
	for _, mt := range m.g.mounts {
		fmt.Fprintf(x.stdout, "%s on %s type %s (rw,relatime)\n", mt.entry.Device, mt.entry.MountPoint, mt.entry.FSType)
	}
	return 0
}

// The messages systemd 252 prints when an unprivileged SSH login asks logind for a reboot.
const rebootDenied = "Failed to set wall message, ignoring: Interactive authentication required.\n" +
	"Failed to reboot system via logind: Interactive authentication required.\n" +
	"Failed to start reboot.target: Interactive authentication required.\n" +
	"See system logs and 'systemctl status reboot.target' for details.\n"

// restart is the guest going down for a reboot: sshd is killed before the command can report anything.
func (m *guestMachine) restart(x *execution) int {
	if !x.root {
		io.WriteString(x.stderr, rebootDenied)
		return 1
	}
	m.c.bootGuest(m.g)
	x.drop = true
	return 0
}

func (m *guestMachine) shutdown(x *execution, argv []string) int {
	args := strings.Join(argv[1:], " ")
	switch args {
	case "-r now", "-r +0", "-r 0", "--reboot now":
		return m.restart(x)
	}
	fmt.Fprintf(x.stderr, "osdr-sim: shutdown %s: only `shutdown -r now` is simulated\n", args)
	return notSimulated
}

func (m *guestMachine) reboot(x *execution, argv []string) int {
	if len(argv) > 1 {
		fmt.Fprintf(x.stderr, "osdr-sim: reboot %s: only `reboot` is simulated\n", strings.Join(argv[1:], " "))
		return notSimulated
	}
	return m.restart(x)
}

func (m *guestMachine) systemctl(x *execution, argv []string) int {
	if len(argv) != 2 || argv[1] != "reboot" {
		fmt.Fprintf(x.stderr, "osdr-sim: systemctl %s: only `systemctl reboot` is simulated\n", strings.Join(argv[1:], " "))
		return notSimulated
	}
	return m.restart(x)
}

// blockDevice is one line of lsblk.
type blockDevice struct {
	name       string // vda, vda1, vdb
	path       string
	partition  bool
	majMin     string
	size       string
	mountpoint string
	children   []*blockDevice
}

// lsblkColumns are the columns the simulation fills; right-aligned ones and libsmartcols' minimum width
// ("width hint") as lsblk declares them.
var lsblkColumns = map[string]struct {
	header string
	right  bool
	hint   int
	value  func(*blockDevice) string
}{
	"NAME":        {header: "NAME", value: func(b *blockDevice) string { return b.name }},
	"MAJ:MIN":     {header: "MAJ:MIN", hint: 6, value: func(b *blockDevice) string { return b.majMin }},
	"RM":          {header: "RM", right: true, hint: 1, value: func(*blockDevice) string { return "0" }},
	"SIZE":        {header: "SIZE", right: true, hint: 5, value: func(b *blockDevice) string { return b.size }},
	"RO":          {header: "RO", right: true, hint: 1, value: func(*blockDevice) string { return "0" }},
	"TYPE":        {header: "TYPE", hint: 4, value: lsblkType},
	"MOUNTPOINT":  {header: "MOUNTPOINT", value: func(b *blockDevice) string { return b.mountpoint }},
	"MOUNTPOINTS": {header: "MOUNTPOINTS", value: func(b *blockDevice) string { return b.mountpoint }},
}

func lsblkType(b *blockDevice) string {
	if b.partition {
		return "part"
	}
	return "disk"
}

// virtioMajor is the block major the guest kernel gave virtio_blk; scsiMajor is sd's (SCSI_DISK0_MAJOR).
const (
	virtioMajor = 252
	scsiMajor   = 8
)

// devices are the guest's disks: the image's root disk with its root partition, then the volumes in
// device order, 16 minors apart as virtio_blk and sd number them.
func (m *guestMachine) devices() []*blockDevice {
	path := m.g.spec.rootDevice()
	major := virtioMajor
	if strings.HasPrefix(path, "/dev/sd") {
		major = scsiMajor
	}
	name := strings.TrimPrefix(path, "/dev/")
	root := &blockDevice{name: name, path: path, majMin: majMin(major, 0), size: "1G"}
	root.children = []*blockDevice{{name: name + "1", path: path + "1", partition: true, majMin: majMin(major, 1), size: "1023M", mountpoint: "/"}}
	devices := []*blockDevice{root}
	disks := slices.Clone(m.d.disks)
	slices.SortFunc(disks, byDevice)
	for _, k := range disks {
		if k.conn.Device == path {
			continue
		}
		b := &blockDevice{name: strings.TrimPrefix(k.conn.Device, "/dev/"), path: k.conn.Device, majMin: majMin(major, 16*virtioIndex(k.conn.Device)), size: "1G"}
		for _, mt := range m.g.mounts {
			if mt.entry.Device == k.conn.Device && mt.volumeID == k.conn.VolumeID {
				b.mountpoint = mt.entry.MountPoint
			}
		}
		devices = append(devices, b)
	}
	return devices
}

// majMin is lsblk's "%3u:%-3u".
func majMin(major, minor int) string { return fmt.Sprintf("%3d:%-3d", major, minor) }

// virtioIndex is the disk's index from its name: vda 0, vdb 1, vdz 25, vdaa 26 (sda, sdb, ... alike).
func virtioIndex(device string) int {
	n := 0
	for _, c := range device[len("/dev/vd"):] {
		n = n*26 + int(c-'a'+1)
	}
	return n - 1
}

// lsblk supports -d/--nodeps, -n/--noheadings, -o/--output with the columns above, and device arguments.
func (m *guestMachine) lsblk(x *execution, argv []string) int {
	nodeps, noheadings := false, false
	columns := []string{"NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINTS"}
	var wanted []string
	unsupported := func(what string) int {
		fmt.Fprintf(x.stderr, "osdr-sim: lsblk %s is not simulated (only -d -n -o NAME,MAJ:MIN,RM,SIZE,RO,TYPE,MOUNTPOINT(S))\n", what)
		return notSimulated
	}
	setColumns := func(list string) string {
		columns = strings.Split(strings.ToUpper(list), ",")
		for _, col := range columns {
			if _, ok := lsblkColumns[col]; !ok {
				return col
			}
		}
		return ""
	}
	args := argv[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		var list string
		switch {
		case a == "--nodeps":
			nodeps = true
		case a == "--noheadings":
			noheadings = true
		case a == "--output" && i+1 < len(args):
			i++
			list = args[i]
		case strings.HasPrefix(a, "--output="):
			list = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-") && len(a) > 1 && !strings.HasPrefix(a, "--"):
			flags := a[1:]
			for j := 0; j < len(flags); j++ {
				switch flags[j] {
				case 'd':
					nodeps = true
				case 'n':
					noheadings = true
				case 'o':
					list = flags[j+1:]
					if list == "" {
						if i+1 >= len(args) {
							return unsupported(a + " without a column list")
						}
						i++
						list = args[i]
					}
					j = len(flags)
				default:
					return unsupported(a)
				}
			}
		case strings.HasPrefix(a, "-"):
			return unsupported(a)
		default:
			wanted = append(wanted, a)
		}
		if list != "" {
			if bad := setColumns(list); bad != "" {
				return unsupported("column " + bad)
			}
		}
	}
	devices := m.devices()
	status := 0
	if len(wanted) > 0 {
		var chosen []*blockDevice
		for _, w := range wanted {
			if b := findDevice(devices, m.absolute(w)); b != nil {
				chosen = append(chosen, b)
				continue
			}
			fmt.Fprintf(x.stderr, "lsblk: %s: not a block device\n", w)
			status = 64 // some devices not found
		}
		if len(chosen) == 0 {
			return 32 // none found
		}
		devices = chosen
	}
	io.WriteString(x.stdout, lsblkTable(devices, columns, nodeps, !noheadings))
	return status
}

func findDevice(devices []*blockDevice, p string) *blockDevice {
	for _, b := range devices {
		if b.path == p {
			return b
		}
		if found := findDevice(b.children, p); found != nil {
			return found
		}
	}
	return nil
}

// lsblkTable lays the devices out as libsmartcols does outside a terminal: each column as wide as its header,
// its widest cell and its width hint, one space between columns, the last column not padded, children under
// a tree.
func lsblkTable(devices []*blockDevice, columns []string, nodeps, header bool) string {
	var rows [][]string
	var add func(b *blockDevice, prefix string)
	add = func(b *blockDevice, prefix string) {
		row := make([]string, len(columns))
		for i, col := range columns {
			row[i] = lsblkColumns[col].value(b)
			if col == "NAME" {
				row[i] = prefix + row[i]
			}
		}
		rows = append(rows, row)
		if nodeps {
			return
		}
		for i, child := range b.children {
			branch := "├─"
			if i == len(b.children)-1 {
				branch = "└─"
			}
			add(child, branch)
		}
	}
	for _, b := range devices {
		add(b, "")
	}
	widths := make([]int, len(columns))
	for i, col := range columns {
		// the header counts even when it is not printed
		widths[i] = max(lsblkColumns[col].hint, len(lsblkColumns[col].header))
		for _, row := range rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i]))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, cell := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			switch {
			case lsblkColumns[columns[i]].right:
				b.WriteString(pad + cell)
			case i == len(cells)-1:
				b.WriteString(cell)
			default:
				b.WriteString(cell + pad)
			}
			if i < len(cells)-1 {
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	if header {
		headers := make([]string, len(columns))
		for i, col := range columns {
			headers[i] = lsblkColumns[col].header
		}
		line(headers)
	}
	for _, row := range rows {
		line(row)
	}
	return b.String()
}
