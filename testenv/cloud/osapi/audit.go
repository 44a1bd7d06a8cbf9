package osapi

import (
	"net/http"
	"sync"
	"time"
)

// AuditEntry is one mutating call the cloud served, or one thing nova-compute did to a guest by itself.
type AuditEntry struct {
	Time time.Time `json:"time"`
	// Caller is the Keystone user name of an API call, or "nova-compute@HOST" for what the compute service did
	// on its own (a resumed guest at service start, a stop ordered by the power-state sync) and for how it
	// carried out an accepted API call.
	Caller    string `json:"caller"`
	Service   string `json:"service"`   // "compute" or "volume"
	Operation string `json:"operation"` // e.g. reboot, os-start, os-stop, os-reset_status, resume_guest
	Detail    string `json:"detail,omitempty"`
	Target    string `json:"target"` // server or volume id
	// Status is the HTTP status the API answered; for compute-side entries 0 when the driver call succeeded,
	// with Error saying what failed otherwise.
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
	// Fault is the failure injected in place of the answer (SetFaults), as "PHASE KIND": "before 503" means
	// the call was not processed (Status is then what the client got, 0 for no answer), "after drop" that it
	// was processed and answered Status, but the client never saw the answer.
	Fault string `json:"fault,omitempty"`
}

// AuditLog keeps every entry in order; it is safe for concurrent use.
type AuditLog struct {
	mu      sync.Mutex
	entries []AuditEntry
}

// Add records e.
func (l *AuditLog) Add(e AuditEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

// Entries returns every entry recorded so far, oldest first.
func (l *AuditLog) Entries() []AuditEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]AuditEntry(nil), l.entries...)
}

// statusRecorder remembers the status a handler answered with, for the audit entry.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Audited runs one mutating API call and records who asked for what and how it was answered. Every mutating
// route goes through here.
func (svc Service) Audited(w http.ResponseWriter, r *Request, operation, detail, target string,
	serve func(w http.ResponseWriter)) {
	rec := &statusRecorder{ResponseWriter: w}
	serve(rec)
	svc.Audit.Add(AuditEntry{Time: time.Now().UTC(), Caller: r.Token.UserName, Service: svc.Name, Operation: operation,
		Detail: detail, Target: target, Status: rec.status, Fault: faultOf(r.Context()).String()})
}
