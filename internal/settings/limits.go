package settings

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Limits on the files osdr reads whole, so that a wrong path (a disk image, /dev/zero, a log) fails at once
// instead of filling the memory of a recovery that runs at night. Each is at least four times what a cloud of
// 10,000 compute hosts, 50,000 instances and 100,000 volumes needs. The volumes never reach the inventory and
// DSN files, they are rows in Cinder's database; they do reach the manifest and the journal.
const (
	// MaxInventoryBytes bounds the inventory ($OSDR_MAX_INVENTORY_BYTES overrides it). An entry with every
	// field set (address, port, user, key and a jump host with its own four, long DNS names, IPv6 addresses and
	// key paths) takes about 325 bytes of YAML, so 10,000 hosts and 10,000 guests make about 6.5 MB; 32 MiB is
	// five times that. Such an inventory parses in about 3 s.
	MaxInventoryBytes = 32 << 20
	// MaxDSNFileBytes bounds a DSN file ($OSDR_MAX_DSN_FILE_BYTES overrides it). A Nova DSN with a long password,
	// host name and parameters is about 200 bytes; 10,000 compute hosts in cells of at least 10 make at most
	// 1,000 cells, 200 KB; 1 MiB is five times that.
	MaxDSNFileBytes = 1 << 20
	// MaxManifestBytes bounds a manifest ($OSDR_MAX_MANIFEST_BYTES overrides it). The manifest of 50,000
	// instances with a boot and a data volume each, every field set with long names, IPv4 and IPv6 addresses,
	// tags and a stamp on every data volume, measured 114,178,106 bytes as osdr writes it (indented); 512 MiB
	// is 4.7 times that.
	MaxManifestBytes = 512 << 20
	// MaxJournalBytes bounds a recovery's journal ($OSDR_MAX_JOURNAL_BYTES overrides it). The journal of a
	// recovery that ran every step of the guide on 50,000 instances (an intent and an outcome for each reboot,
	// reattach and guest reboot) measured 70,839,430 bytes; 384 MiB is 5.7 times that, room for resumes,
	// which add entries.
	MaxJournalBytes = 384 << 20
	// MaxDrillFileBytes bounds a drill file ($OSDR_MAX_DRILL_FILE_BYTES overrides it). A drill naming 50,000
	// instances by id and by name and 10,000 hosts measured 4,940,402 bytes; 32 MiB is 6.8 times that.
	MaxDrillFileBytes = 32 << 20
)

// ErrFileTooLarge is what the refusal of a file over its size limit is (errors.Is).
var ErrFileTooLarge = errors.New("file over its size limit")

// FileLimit is the size limit of one kind of file osdr reads whole, and the variable that overrides it.
type FileLimit struct {
	// What names the kind of file in messages.
	What string
	// Bytes is the default limit.
	Bytes int64
	// Env is the variable that overrides Bytes.
	Env string
}

// The limits of the files the settings do not read themselves: recover reads manifests and journals, drills
// read drill files.
var (
	ManifestLimit  = FileLimit{What: "manifest", Bytes: MaxManifestBytes, Env: EnvMaxManifestBytes}
	JournalLimit   = FileLimit{What: "journal", Bytes: MaxJournalBytes, Env: EnvMaxJournalBytes}
	DrillFileLimit = FileLimit{What: "drill file", Bytes: MaxDrillFileBytes, Env: EnvMaxDrillFileBytes}
)

// withOverride is the limit with $Env applied.
func (l FileLimit) withOverride(getenv func(string) string) (FileLimit, error) {
	text := getenv(l.Env)
	if text == "" {
		return l, nil
	}
	limit, err := strconv.ParseInt(text, 10, 64)
	if err != nil || limit < 1 {
		return l, &Error{Setting: "file size limit", Source: "$" + l.Env, Err: fmt.Errorf("%q is not a positive number of bytes", text)}
	}
	l.Bytes = limit
	return l, nil
}

// limits checks the overrides of the limits the settings do not apply themselves, so that a wrong one is
// reported with every other wrong setting instead of when the file is read.
func (r *resolution) limits() error {
	var errs []error
	for _, l := range []FileLimit{ManifestLimit, JournalLimit, DrillFileLimit} {
		_, err := l.withOverride(r.getenv)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ReadFile reads the file at path whole, refusing it, before reading, when it is over the limit. $Env is read
// from the process environment, as Resolve read it. A path that looks like a DSN is refused without being repeated: it was typed where a path goes.
func (l FileLimit) ReadFile(path string) ([]byte, error) {
	if looksLikeDSN(path) {
		return nil, fmt.Errorf("read %s: %w", l.What, ErrLooksLikeDSN)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", l.What, path, withoutPath(err))
	}
	defer file.Close()
	return l.ReadOpened(file)
}

// ReadOpened reads an opened file whole from where it stands, as ReadFile does; errors name the file.
func (l FileLimit) ReadOpened(file *os.File) ([]byte, error) {
	limit, err := l.withOverride(os.Getenv)
	if err != nil {
		return nil, err
	}
	content, err := readLimited(file, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", l.What, file.Name(), err)
	}
	return content, nil
}

// tooLargeError refuses a file over its limit, saying how to raise it.
type tooLargeError struct {
	size  string
	limit FileLimit
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("the file is %s bytes, over the limit of %d bytes (raise it with $%s)", e.size, e.limit.Bytes, e.limit.Env)
}

func (e *tooLargeError) Is(target error) bool { return target == ErrFileTooLarge }

// readLimited reads an opened file whole, refusing one over the limit. The size is checked before reading
// and again while reading, for a file that is no regular file (a pipe) or that grows. Errors do not repeat the
// path: callers name the file as the operator gave it.
func readLimited(file *os.File, limit FileLimit) ([]byte, error) {
	info, err := file.Stat()
	if err != nil {
		return nil, withoutPath(err)
	}
	if info.Size() > limit.Bytes {
		return nil, &tooLargeError{size: strconv.FormatInt(info.Size(), 10), limit: limit}
	}
	content, err := io.ReadAll(io.LimitReader(file, limit.Bytes+1))
	if err != nil {
		return nil, withoutPath(err)
	}
	if int64(len(content)) > limit.Bytes {
		return nil, &tooLargeError{size: "more than " + strconv.FormatInt(limit.Bytes, 10), limit: limit}
	}
	return content, nil
}
