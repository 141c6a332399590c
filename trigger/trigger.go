// Package trigger holds portable trigger values: the events that invoke a
// function (HTTP requests, queue messages, database changes, schedules and
// storage events).
//
// Each trigger carries a stable Key. updraft owns a trigger by its key: it
// creates, updates and deletes only the triggers whose key it wrote, and
// leaves triggers made by other tools alone. Renaming a key therefore
// deletes the old trigger and creates a new one.
//
// The values here name cloud resources (a queue, a bucket, a stream) but
// import no cloud SDK: each provider adapter maps them to its own service
// (an SQS event source mapping, an Eventarc trigger, a function.json
// binding, …) and reports the kinds it cannot map in its Capabilities.
package trigger

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Kind names a family of triggers.
type Kind string

// The trigger kinds.
const (
	KindHTTP     Kind = "http"
	KindQueue    Kind = "queue"
	KindStream   Kind = "stream"
	KindSchedule Kind = "schedule"
	KindStorage  Kind = "storage"
)

// Kinds lists every kind in a stable order.
func Kinds() []Kind { return []Kind{KindHTTP, KindQueue, KindStream, KindSchedule, KindStorage} }

// Trigger is one of HTTP, Queue, Stream, Schedule or Storage.
type Trigger interface {
	// TriggerKey returns the trigger's Key field.
	TriggerKey() string
	// Kind reports the trigger's family.
	Kind() Kind
	// Validate reports the first problem with the trigger's fields, or nil.
	Validate() error
}

// AuthMode says who may call an HTTP trigger.
type AuthMode string

// The authentication modes of an HTTP trigger.
const (
	// AuthIAM requires a caller signed by the cloud's identity system
	// (Lambda AWS_IAM, Cloud Run invoker, Azure function key). The default.
	AuthIAM AuthMode = "iam"
	// AuthNone makes the endpoint public.
	AuthNone AuthMode = "none"
)

// HTTP invokes the function for HTTPS requests to its endpoint (a Lambda
// function URL, the Cloud Run URL, an Azure httpTrigger).
type HTTP struct {
	Key string
	// Auth defaults to AuthIAM.
	Auth AuthMode
	// CORSOrigins lists the origins allowed by CORS; nil means no CORS headers.
	CORSOrigins []string
}

// Queue invokes the function with batches of messages from a queue or topic
// (an SQS queue ARN, a Pub/Sub topic, an Azure Storage or Service Bus queue).
type Queue struct {
	Key string
	// Source names the queue in the target cloud's terms.
	Source string
	// BatchSize is the most messages per invocation; 0 means the cloud's default.
	BatchSize int
	// MaxBatchingWindow is how long to gather a batch; 0 means none.
	MaxBatchingWindow time.Duration
}

// StartingPosition says where a new Stream trigger starts reading.
type StartingPosition string

// The starting positions of a Stream.
const (
	StartLatest      StartingPosition = "latest"
	StartTrimHorizon StartingPosition = "trim_horizon"
)

// Stream invokes the function for changes in a database or data stream
// (DynamoDB Streams or Kinesis, Firestore documents, Cosmos DB change feed).
type Stream struct {
	Key string
	// Source names the stream, collection or document pattern.
	Source string
	// StartingPosition defaults to StartLatest.
	StartingPosition StartingPosition
	// BatchSize is the most records per invocation; 0 means the cloud's default.
	BatchSize int
	// MaxRetries is how many times a batch that failed is retried before
	// its records are given up (skipped, and counted as discarded). nil
	// means the cloud's default: retry until the records expire (Lambda
	// and local://); new(0) means no retry. Lambda takes up to 10000.
	MaxRetries *int
	// BisectOnError splits a failed batch in two and retries each half
	// apart, so that one bad record holds up fewer good ones (Lambda's
	// BisectBatchOnFunctionError).
	BisectOnError bool
}

// Schedule invokes the function on a timer. Exactly one of Cron and Rate is set.
type Schedule struct {
	Key string
	// Cron is a five-field cron expression ("*/5 * * * *"), minute first,
	// read in TimeZone. It carries no time zone of its own: a "TZ=" or
	// "CRON_TZ=" prefix is refused, so the zone a schedule fires in is
	// the one Describe and every adapter read, from TimeZone alone.
	Cron string
	// Rate runs the function every Rate; whole minutes, at least one.
	Rate time.Duration
	// TimeZone is an IANA zone name for Cron ("Europe/Paris"); "" means UTC.
	TimeZone string
	// Payload is sent as the event body; nil means the cloud's default event.
	Payload []byte
}

// StorageEvent is a kind of object event.
type StorageEvent string

// The storage events.
const (
	ObjectCreated StorageEvent = "created"
	ObjectDeleted StorageEvent = "deleted"
)

// Storage invokes the function for object events in a bucket or container.
type Storage struct {
	Key string
	// Bucket names the bucket (S3, GCS) or container (Azure Blob).
	Bucket string
	// Events defaults to []StorageEvent{ObjectCreated}.
	Events []StorageEvent
	// Prefix and Suffix filter object names; "" matches any.
	Prefix, Suffix string
}

// TriggerKey implements Trigger.
func (t HTTP) TriggerKey() string { return t.Key }

// TriggerKey implements Trigger.
func (t Queue) TriggerKey() string { return t.Key }

// TriggerKey implements Trigger.
func (t Stream) TriggerKey() string { return t.Key }

// TriggerKey implements Trigger.
func (t Schedule) TriggerKey() string { return t.Key }

// TriggerKey implements Trigger.
func (t Storage) TriggerKey() string { return t.Key }

// Kind implements Trigger.
func (HTTP) Kind() Kind { return KindHTTP }

// Kind implements Trigger.
func (Queue) Kind() Kind { return KindQueue }

// Kind implements Trigger.
func (Stream) Kind() Kind { return KindStream }

// Kind implements Trigger.
func (Schedule) Kind() Kind { return KindSchedule }

// Kind implements Trigger.
func (Storage) Kind() Kind { return KindStorage }

// MaxKeyLen is the longest trigger key: it must fit in the names, tags and
// labels each cloud allows after updraft's prefix.
const MaxKeyLen = 40

var keyRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidateKey reports whether key is a usable trigger key: 1 to 40
// lower-case letters, digits and inner hyphens.
func ValidateKey(key string) error {
	if key == "" {
		return errors.New("trigger key is empty: give every trigger a stable Key such as \"web\"")
	}
	if len(key) > MaxKeyLen || !keyRE.MatchString(key) {
		return fmt.Errorf("trigger key %q: use 1 to %d lower-case letters, digits and inner hyphens", key, MaxKeyLen)
	}
	return nil
}

// Validate implements Trigger.
func (t HTTP) Validate() error {
	if err := ValidateKey(t.Key); err != nil {
		return err
	}
	switch t.Auth {
	case "", AuthIAM, AuthNone:
	default:
		return fmt.Errorf("http trigger %q: auth %q: use %q or %q", t.Key, t.Auth, AuthIAM, AuthNone)
	}
	for _, o := range t.CORSOrigins {
		if o != "*" && !strings.Contains(o, "://") {
			return fmt.Errorf("http trigger %q: CORS origin %q: use \"*\" or a scheme and host such as https://example.com", t.Key, o)
		}
	}
	return nil
}

// Validate implements Trigger.
func (t Queue) Validate() error {
	if err := ValidateKey(t.Key); err != nil {
		return err
	}
	if strings.TrimSpace(t.Source) == "" {
		return fmt.Errorf("queue trigger %q: Source is empty: name the queue or topic", t.Key)
	}
	if t.BatchSize < 0 || t.BatchSize > 10000 {
		return fmt.Errorf("queue trigger %q: batch size %d: use 0 (default) to 10000", t.Key, t.BatchSize)
	}
	if t.MaxBatchingWindow < 0 || t.MaxBatchingWindow > 5*time.Minute {
		return fmt.Errorf("queue trigger %q: batching window %s: use 0 to 5m", t.Key, t.MaxBatchingWindow)
	}
	return nil
}

// Validate implements Trigger.
func (t Stream) Validate() error {
	if err := ValidateKey(t.Key); err != nil {
		return err
	}
	if strings.TrimSpace(t.Source) == "" {
		return fmt.Errorf("stream trigger %q: Source is empty: name the stream or collection", t.Key)
	}
	switch t.StartingPosition {
	case "", StartLatest, StartTrimHorizon:
	default:
		return fmt.Errorf("stream trigger %q: starting position %q: use %q or %q", t.Key, t.StartingPosition, StartLatest, StartTrimHorizon)
	}
	if t.BatchSize < 0 || t.BatchSize > 10000 {
		return fmt.Errorf("stream trigger %q: batch size %d: use 0 (default) to 10000", t.Key, t.BatchSize)
	}
	if t.MaxRetries != nil && (*t.MaxRetries < 0 || *t.MaxRetries > 10000) {
		return fmt.Errorf("stream trigger %q: max retries %d: use 0 to 10000, or leave it unset to retry until the records expire", t.Key, *t.MaxRetries)
	}
	return nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// parseCron parses a five-field expression. A time zone prefix ("TZ=",
// "CRON_TZ=") is refused before the parser sees it: it would give the
// schedule a second time zone beside TimeZone, and robfig/cron slices
// out of range on a prefix with no space after it. A panic of the parser
// on any other input becomes an error too, so no caller's process dies
// of a bad expression.
func parseCron(expr string) (s cron.Schedule, err error) {
	for i, f := range strings.Fields(expr) {
		if !strings.Contains(f, "=") {
			continue
		}
		if zone, ok := cutZonePrefix(f); ok && i == 0 {
			if zone == "" {
				return nil, errors.New("a time zone prefix has no place in Cron: set Schedule.TimeZone instead")
			}
			return nil, fmt.Errorf("a time zone prefix has no place in Cron: set Schedule.TimeZone to %q instead", zone)
		}
		return nil, fmt.Errorf("field %d has an '=' in it", i+1)
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("the cron parser failed on it (%v)", r)
		}
	}()
	return cronParser.Parse(expr)
}

// cutZonePrefix returns the zone of a "TZ=zone" or "CRON_TZ=zone" field.
func cutZonePrefix(field string) (string, bool) {
	for _, p := range []string{"TZ=", "CRON_TZ="} {
		if z, ok := strings.CutPrefix(field, p); ok {
			return z, true
		}
	}
	return "", false
}

// Validate implements Trigger. A cron expression that does not parse or
// carries its own time zone, a rate under a minute or not in whole
// minutes, and an unknown time zone are errors.
func (t Schedule) Validate() error {
	if err := ValidateKey(t.Key); err != nil {
		return err
	}
	switch {
	case t.Cron == "" && t.Rate == 0:
		return fmt.Errorf("schedule trigger %q: set Cron (\"*/5 * * * *\") or Rate", t.Key)
	case t.Cron != "" && t.Rate != 0:
		return fmt.Errorf("schedule trigger %q: set Cron or Rate, not both", t.Key)
	case t.Rate != 0 && (t.Rate < time.Minute || t.Rate%time.Minute != 0):
		return fmt.Errorf("schedule trigger %q: rate %s: use whole minutes, at least 1m", t.Key, t.Rate)
	}
	if t.Cron != "" {
		sched, err := parseCron(t.Cron)
		if err != nil {
			return fmt.Errorf("schedule trigger %q: cron %q does not parse (%v): use five fields, minute hour day-of-month month day-of-week", t.Key, t.Cron, err)
		}
		if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			return fmt.Errorf("schedule trigger %q: cron %q never fires (such as February 30): check the day and month fields", t.Key, t.Cron)
		}
	}
	if t.TimeZone != "" {
		if _, err := time.LoadLocation(t.TimeZone); err != nil {
			return fmt.Errorf("schedule trigger %q: time zone %q is not an IANA zone name such as Europe/Paris", t.Key, t.TimeZone)
		}
	}
	return nil
}

// Next returns the first time after from at which the schedule fires, in
// the schedule's time zone. It returns the zero time for an invalid schedule.
func (t Schedule) Next(from time.Time) time.Time {
	if t.Validate() != nil {
		return time.Time{}
	}
	if t.Rate != 0 {
		return from.Add(t.Rate)
	}
	s, err := parseCron(t.Cron)
	if err != nil {
		return time.Time{}
	}
	return s.Next(from.In(t.Location()))
}

// Location is the time zone the schedule's Cron is read in: TimeZone, or
// UTC when it is empty (never the machine's local zone); nil for a zone
// that does not load. Adapters schedule in it, as Next and Describe do.
func (t Schedule) Location() *time.Location {
	if t.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return nil
	}
	return loc
}

// Validate implements Trigger.
func (t Storage) Validate() error {
	if err := ValidateKey(t.Key); err != nil {
		return err
	}
	if strings.TrimSpace(t.Bucket) == "" {
		return fmt.Errorf("storage trigger %q: Bucket is empty: name the bucket or container", t.Key)
	}
	for _, e := range t.Events {
		if e != ObjectCreated && e != ObjectDeleted {
			return fmt.Errorf("storage trigger %q: event %q: use %q or %q", t.Key, e, ObjectCreated, ObjectDeleted)
		}
	}
	return nil
}

// ValidateAll validates every trigger and checks that keys are unique. It
// returns all problems joined, or nil.
func ValidateAll(ts []Trigger) error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range ts {
		if t == nil {
			errs = append(errs, fmt.Errorf("trigger %d is nil", i))
			continue
		}
		if err := t.Validate(); err != nil {
			errs = append(errs, err)
		}
		k := t.TriggerKey()
		if seen[k] && k != "" {
			errs = append(errs, fmt.Errorf("trigger key %q is used twice: keys must be unique within a function", k))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

// Normalize returns a copy of t, sharing no memory with it, with defaults filled in (Auth, starting
// position, storage events), so two triggers that mean the same compare equal.
func Normalize(t Trigger) Trigger {
	switch v := t.(type) {
	case HTTP:
		if v.Auth == "" {
			v.Auth = AuthIAM
		}
		if len(v.CORSOrigins) == 0 {
			v.CORSOrigins = nil
		} else {
			v.CORSOrigins = append([]string(nil), v.CORSOrigins...)
		}
		return v
	case Stream:
		if v.StartingPosition == "" {
			v.StartingPosition = StartLatest
		}
		if v.MaxRetries != nil {
			// A copy: the caller's pointer must not reach stored state.
			v.MaxRetries = new(*v.MaxRetries)
		}
		return v
	case Storage:
		if len(v.Events) == 0 {
			v.Events = []StorageEvent{ObjectCreated}
		}
		ev := append([]StorageEvent(nil), v.Events...)
		sort.Slice(ev, func(i, j int) bool { return ev[i] < ev[j] })
		v.Events = ev
		return v
	case Schedule:
		if len(v.Payload) == 0 {
			v.Payload = nil
		} else {
			v.Payload = append([]byte(nil), v.Payload...)
		}
		return v
	}
	return t
}

// Describe is a one-line summary of t for plans and logs.
func Describe(t Trigger) string {
	switch v := Normalize(t).(type) {
	case HTTP:
		return fmt.Sprintf("http %s (auth %s)", v.Key, v.Auth)
	case Queue:
		return fmt.Sprintf("queue %s from %s", v.Key, v.Source)
	case Stream:
		return fmt.Sprintf("stream %s from %s (%s)", v.Key, v.Source, v.StartingPosition)
	case Schedule:
		if v.Rate != 0 {
			return fmt.Sprintf("schedule %s every %s", v.Key, v.Rate)
		}
		tz := v.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		return fmt.Sprintf("schedule %s cron %q %s", v.Key, v.Cron, tz)
	case Storage:
		return fmt.Sprintf("storage %s on %s %v", v.Key, v.Bucket, v.Events)
	}
	return fmt.Sprintf("%T", t)
}
