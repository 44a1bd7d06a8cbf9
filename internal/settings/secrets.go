package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
)

// ErrLooksLikeDSN is wrapped when a value given as a path looks like a database DSN: the operator put a secret
// where a file name goes (--cinder-db-dsn-file 'root:pw@tcp(...)/cinder'). It is refused without being
// repeated, since it may hold the password.
var ErrLooksLikeDSN = errors.New("the value looks like a database DSN, not a path; it is not repeated here, since it may hold a password")

// looksLikeDSN reports a go-sql-driver DSN: user:password@..., or an address in net(addr) form. A path with an
// @ alone (systemd's /run/credentials/osdr@night.service/...) is still a path.
func looksLikeDSN(value string) bool {
	colon, at := strings.Index(value, ":"), strings.LastIndex(value, "@")
	return (colon >= 0 && at > colon) || strings.Contains(value, "@tcp(") || strings.Contains(value, "@unix(")
}

// checkPath refuses a path that looks like a DSN, naming only the setting and where it came from.
func checkPath(setting, source, path string) error {
	if looksLikeDSN(path) {
		return &Error{Setting: setting, Source: source, Err: ErrLooksLikeDSN}
	}
	return nil
}

// pickPath is pick for a setting that names a file or a directory.
func (r *resolution) pickPath(setting, flagValue, flagName, envName string) (path, source string, err error) {
	path, source = r.pick(flagValue, flagName, envName)
	if err := checkPath(setting, source, path); err != nil {
		return "", "", err
	}
	return path, source, nil
}

// withoutPath drops the path an os error repeats: the setting's source already names the file, once.
func withoutPath(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return fmt.Errorf("%s: %w", pathErr.Op, pathErr.Err)
	}
	return err
}

// checkAuthURL refuses a Keystone URL that does not parse or that carries credentials (https://user:pw@...),
// without repeating it: it is printed in messages, and compared by the drills' guards, as it is.
func checkAuthURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the part that does not parse, which may be a piece of a password.
		return errors.New("the auth URL does not parse; it is not repeated here, since it may hold a password")
	}
	if u.User != nil {
		return errors.New("the auth URL carries a user name or password; it is not repeated here: give them as the username and password")
	}
	return nil
}

// dsnProblem says what is wrong with a DSN without quoting it. go-sql-driver's fixed messages start "invalid
// DSN: "; its others quote what they could not parse (a network name, a parameter's value), which in a
// malformed DSN can be a piece of the password, so only the words before the quote are kept.
func dsnProblem(err error) error {
	message := err.Error()
	if strings.HasPrefix(message, "invalid DSN: ") {
		return err
	}
	if i := strings.IndexAny(message, `'":`); i >= 0 {
		message = strings.TrimSpace(message[:i])
	}
	return fmt.Errorf("invalid DSN: %s (the driver's message quotes the DSN, which may hold the password; the rest is withheld)", message)
}
