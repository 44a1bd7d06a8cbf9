package settings

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

// Limits on the files the settings read whole, so that a wrong path (a disk image, /dev/zero, a log) fails at
// once instead of filling the memory of a recovery that runs at night. Each is at least four times what a cloud
// of 10,000 compute hosts and 100,000 volumes needs; the volumes themselves never reach these files, they are
// rows in Cinder's database.
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
)

// byteLimit is the limit $envName sets, else def.
func (r *resolution) byteLimit(envName string, def int64) (int64, error) {
	text := r.getenv(envName)
	if text == "" {
		return def, nil
	}
	limit, err := strconv.ParseInt(text, 10, 64)
	if err != nil || limit < 1 {
		return 0, &Error{Setting: "file size limit", Source: "$" + envName, Err: fmt.Errorf("%q is not a positive number of bytes", text)}
	}
	return limit, nil
}

// fileLimit is a file size limit with the variable that overrides it, for messages.
type fileLimit struct {
	bytes   int64
	envName string
}

// readLimited reads an opened file whole, refusing one over the limit. The size is checked before reading
// and again while reading, for a file that is no regular file (a pipe) or that grows.
func readLimited(file *os.File, limit fileLimit) ([]byte, error) {
	tooLarge := func(size string) error {
		return fmt.Errorf("the file is %s bytes, over the limit of %d bytes (raise it with $%s)", size, limit.bytes, limit.envName)
	}
	info, err := file.Stat()
	if err != nil {
		return nil, withoutPath(err)
	}
	if info.Size() > limit.bytes {
		return nil, tooLarge(strconv.FormatInt(info.Size(), 10))
	}
	content, err := io.ReadAll(io.LimitReader(file, limit.bytes+1))
	if err != nil {
		return nil, withoutPath(err)
	}
	if int64(len(content)) > limit.bytes {
		return nil, tooLarge("more than " + strconv.FormatInt(limit.bytes, 10))
	}
	return content, nil
}
