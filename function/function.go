package function

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is the family of a registered handler; the values are those of
// updraft's trigger.Kind.
type Kind string

// The handler kinds.
const (
	KindHTTP     Kind = "http"
	KindQueue    Kind = "queue"
	KindStream   Kind = "stream"
	KindSchedule Kind = "schedule"
	KindStorage  Kind = "storage"
)

// Message is one queue or topic message (SQS, Pub/Sub, Storage Queue,
// Service Bus).
type Message struct {
	// ID identifies the message; it is what a QueueFunc returns to report
	// the message failed.
	ID string
	// Body is the message payload.
	Body []byte
	// Attributes are the message's string attributes (SQS message
	// attributes, Pub/Sub attributes, Service Bus application properties).
	Attributes map[string]string
	// Source names the queue or topic (an ARN, a topic or queue name).
	Source string
	// Time is when the message was sent, when the cloud says.
	Time time.Time
	// DeliveryCount is how many times it was delivered, when the cloud says.
	DeliveryCount int
}

// QueueFunc handles a batch of messages. It returns the IDs of the
// messages that failed and are to be delivered again; a non-nil error
// fails the whole batch.
type QueueFunc func(ctx context.Context, batch []Message) (failed []string, err error)

// Op is a database change operation.
type Op string

// The change operations.
const (
	Insert Op = "insert"
	Modify Op = "modify"
	Remove Op = "remove"
	// Upsert is an insert or a modification, for sources that do not tell
	// them apart (the Cosmos DB change feed).
	Upsert Op = "upsert"
)

// Change is one change of a database item or one stream record.
type Change struct {
	// ID identifies the change (a sequence number, an event id); it is
	// what a StreamFunc returns to report the change failed.
	ID string
	Op Op
	// Source names the table, collection or stream.
	Source string
	// Key is the item's key (DynamoDB keys, the Firestore document path as
	// "path", the Cosmos DB "id", the Kinesis "partitionKey").
	Key map[string]any
	// Old and New are the item before and after the change, when the
	// cloud gives them, as plain Go values (string, float64 or
	// json.Number, bool, nil, []byte, []any, map[string]any, time.Time).
	Old, New map[string]any
	// Data is the raw record of sources without items (Kinesis).
	Data []byte
	// Time is when the change happened, when the cloud says.
	Time time.Time
}

// StreamFunc handles a batch of changes. It returns the IDs of the
// changes that failed; a non-nil error fails the whole batch.
type StreamFunc func(ctx context.Context, batch []Change) (failed []string, err error)

// ObjectEvent is what happened to a storage object.
type ObjectEvent string

// The object events; the values are those of trigger.StorageEvent.
const (
	ObjectCreated ObjectEvent = "created"
	ObjectDeleted ObjectEvent = "deleted"
)

// Object is a storage object event (S3, Cloud Storage, Blob).
type Object struct {
	// Bucket is the bucket or container; Key the object name.
	Bucket, Key string
	// Size in bytes (0 for deletions where the cloud does not say).
	Size  int64
	Event ObjectEvent
	// ETag and ContentType when the cloud gives them.
	ETag, ContentType string
	Time              time.Time
}

// StorageFunc handles one object event. An error makes the cloud retry.
type StorageFunc func(ctx context.Context, obj Object) error

// Tick is one firing of a schedule.
type Tick struct {
	// Time is the scheduled (or, where the cloud does not say, the actual)
	// firing time.
	Time time.Time
	// Name is the schedule's name in the cloud, when it says.
	Name string
	// Payload is the schedule's configured body, if any.
	Payload []byte
}

// ScheduleFunc handles a tick. An error makes the cloud retry where it does.
type ScheduleFunc func(ctx context.Context, t Tick) error

// Mux holds handlers by trigger key. The zero Mux is empty and ready.
type Mux struct {
	mu sync.RWMutex
	m  map[string]entry
}

type entry struct {
	kind    Kind
	http    http.Handler
	queue   QueueFunc
	stream  StreamFunc
	storage StorageFunc
	sched   ScheduleFunc
}

// DefaultMux is the Mux the package-level functions register with and
// Main serves.
var DefaultMux = &Mux{}

var keyRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func (m *Mux) add(key string, e entry) {
	if len(key) > 40 || !keyRE.MatchString(key) {
		panic(fmt.Sprintf("function: trigger key %q: use 1 to 40 lower-case letters, digits and inner hyphens, as in the Spec's trigger", key))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.m[key]; dup {
		panic(fmt.Sprintf("function: trigger key %q is registered twice", key))
	}
	if m.m == nil {
		m.m = map[string]entry{}
	}
	m.m[key] = e
}

// HTTP registers h for the HTTP trigger key. It panics on an invalid or
// duplicate key or a nil handler, as registration happens in init.
func (m *Mux) HTTP(key string, h http.Handler) {
	if h == nil {
		panic("function: nil http.Handler for " + key)
	}
	m.add(key, entry{kind: KindHTTP, http: h})
}

// Queue registers fn for the queue trigger key.
func (m *Mux) Queue(key string, fn QueueFunc) {
	if fn == nil {
		panic("function: nil QueueFunc for " + key)
	}
	m.add(key, entry{kind: KindQueue, queue: fn})
}

// Stream registers fn for the stream (database change) trigger key.
func (m *Mux) Stream(key string, fn StreamFunc) {
	if fn == nil {
		panic("function: nil StreamFunc for " + key)
	}
	m.add(key, entry{kind: KindStream, stream: fn})
}

// Storage registers fn for the storage trigger key.
func (m *Mux) Storage(key string, fn StorageFunc) {
	if fn == nil {
		panic("function: nil StorageFunc for " + key)
	}
	m.add(key, entry{kind: KindStorage, storage: fn})
}

// Schedule registers fn for the schedule trigger key.
func (m *Mux) Schedule(key string, fn ScheduleFunc) {
	if fn == nil {
		panic("function: nil ScheduleFunc for " + key)
	}
	m.add(key, entry{kind: KindSchedule, sched: fn})
}

// Keys lists the registered keys of a kind ("" for all), sorted.
func (m *Mux) Keys(kind Kind) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var keys []string
	for k, e := range m.m {
		if kind == "" || e.kind == kind {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func (m *Mux) get(key string) (entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.m[key]
	return e, ok
}

// resolve picks the handler of kind for an event whose trigger the cloud
// did not name: $UPDRAFT_EVENT_KEY, the only one of its kind, or the one
// whose key ends the source's name.
func (m *Mux) resolve(kind Kind, eventKey, source string) (string, entry, error) {
	if eventKey != "" {
		if e, ok := m.get(eventKey); ok && e.kind == kind {
			return eventKey, e, nil
		}
	}
	keys := m.Keys(kind)
	switch len(keys) {
	case 0:
		return "", entry{}, fmt.Errorf("function: a %s event arrived (from %q) but no %s handler is registered: register one with function.%s", kind, source, kind, registerName(kind))
	case 1:
		e, _ := m.get(keys[0])
		return keys[0], e, nil
	}
	for _, k := range keys {
		if matchesSource(source, k) {
			e, _ := m.get(k)
			return k, e, nil
		}
	}
	return "", entry{}, fmt.Errorf("function: a %s event from %q matches none of the %s handlers %v: set UPDRAFT_EVENT_KEY or name the source after the trigger key", kind, source, kind, keys)
}

// matchesSource reports whether key names source: equal to it, or its
// last element, or a hyphenated suffix or inner part of that element.
func matchesSource(source, key string) bool {
	if source == "" {
		return false
	}
	last := source
	if i := strings.LastIndexAny(last, "/:"); i >= 0 {
		last = last[i+1:]
	}
	return last == key || strings.HasSuffix(last, "-"+key) || strings.HasPrefix(last, key+"-") || strings.Contains(last, "-"+key+"-")
}

func registerName(k Kind) string {
	switch k {
	case KindHTTP:
		return "HTTP"
	case KindQueue:
		return "Queue"
	case KindStream:
		return "Stream"
	case KindStorage:
		return "Storage"
	}
	return "Schedule"
}

// HTTP registers h with DefaultMux for the HTTP trigger key.
func HTTP(key string, h http.Handler) { DefaultMux.HTTP(key, h) }

// Queue registers fn with DefaultMux for the queue trigger key.
func Queue(key string, fn QueueFunc) { DefaultMux.Queue(key, fn) }

// Stream registers fn with DefaultMux for the stream trigger key.
func Stream(key string, fn StreamFunc) { DefaultMux.Stream(key, fn) }

// Storage registers fn with DefaultMux for the storage trigger key.
func Storage(key string, fn StorageFunc) { DefaultMux.Storage(key, fn) }

// Schedule registers fn with DefaultMux for the schedule trigger key.
func Schedule(key string, fn ScheduleFunc) { DefaultMux.Schedule(key, fn) }
