package localprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// A local bucket is a directory: Options.Buckets[NAME], else
// DIR/buckets/NAME. Its state is a bbolt database, DIR/buckets/.NAME.db,
// opened per transaction as a queue's is (processes take turns): the
// index of the objects seen (key → size, modification time, MD5 ETag),
// the consumers (a function's storage trigger on the bucket, with its
// event kinds and filters) and, per consumer, the durable queue of object
// events not yet delivered. A settled file change updates the index and
// enqueues the matching consumers' events in one transaction, so an
// event is never lost and never enqueued twice, whichever process dies.

var (
	bktStMeta      = []byte("meta")
	bktStIndex     = []byte("index")
	bktStConsumers = []byte("consumers")
	keyStInit      = []byte("init")
)

// Storage delivery settings. Lambda retries a failed asynchronous
// invocation twice, after about one and then two minutes; local://
// keeps the count and shortens the waits to seconds.
const (
	storageAttempts    = 3
	storageBackoff     = time.Second // doubled after every failed attempt
	storagePoll        = 250 * time.Millisecond
	storageLockRetry   = time.Second
	storageQuiet       = 100 * time.Millisecond
	storageSettleTick  = 25 * time.Millisecond
	storageRescanEvery = time.Minute
)

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// BucketName is the local bucket a storage trigger names: the last
// element of an ARN or URL ("arn:aws:s3:::photos", "gs://photos" and
// "photos" all name "photos"), so one Spec deploys to a cloud and to
// local:// alike.
func BucketName(ref string) string { return lastElement(ref) }

func validBucketName(name string) error {
	if !bucketNameRE.MatchString(name) || strings.Contains(name, "..") {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("bucket name %q: use 3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, as S3 and Cloud Storage require", name))
	}
	return nil
}

// bucketPaths are where a bucket's files and state are.
type bucketPaths struct {
	name string
	// root holds the objects; db, watchLock and newMark its state.
	root, db, watchLock, newMark string
}

func (h *Host) bucketPaths(name string) bucketPaths {
	base := filepath.Join(h.dir, "buckets")
	root := filepath.Join(base, name)
	if d, ok := h.opts.Buckets[name]; ok && d != "" {
		if a, err := filepath.Abs(d); err == nil {
			d = a
		}
		root = d
	}
	return bucketPaths{name: name, root: root,
		db:        filepath.Join(base, "."+name+".db"),
		watchLock: filepath.Join(base, "."+name+".watch.lock"),
		newMark:   filepath.Join(base, "."+name+".new")}
}

func (b bucketPaths) deliverLock(fn, key string) string {
	return filepath.Join(filepath.Dir(b.db), "."+b.name+".deliver."+fn+"."+key+".lock")
}

// ensureBucket creates the bucket's directory if it is missing. A
// directory created here is marked new: the first scan takes every file
// in it for a new object, where the files of a directory that existed
// before updraft used it are recorded without events.
func (h *Host) ensureBucket(ref string) (bucketPaths, error) {
	name := BucketName(ref)
	if err := validBucketName(name); err != nil {
		return bucketPaths{}, err
	}
	b := h.bucketPaths(name)
	if err := os.MkdirAll(filepath.Dir(b.db), 0o755); err != nil {
		return b, driver.Wrap(driver.Internal, err, "creating the buckets directory")
	}
	fi, err := os.Stat(b.root)
	switch {
	case err == nil && !fi.IsDir():
		return b, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("bucket %s: %s is not a directory: remove it or map the bucket elsewhere with Options.Buckets", name, b.root))
	case err == nil:
		return b, nil
	case !errors.Is(err, fs.ErrNotExist):
		return b, driver.Wrap(driver.Internal, err, "bucket "+name)
	}
	if err := os.WriteFile(b.newMark, nil, 0o644); err != nil {
		return b, driver.Wrap(driver.Internal, err, "bucket "+name)
	}
	if err := os.MkdirAll(b.root, 0o755); err != nil {
		return b, driver.Wrap(driver.Internal, err, fmt.Sprintf("creating bucket %s's directory %s: map the bucket elsewhere with Options.Buckets", name, b.root))
	}
	return b, nil
}

// BucketDir returns the directory that is local bucket name (a bucket
// name, or an ARN or gs:// URL ending in one), creating it if it is
// missing: files created, overwritten or deleted there become object
// events for the storage triggers on the bucket.
func (h *Host) BucketDir(name string) (string, error) {
	b, err := h.ensureBucket(name)
	if err != nil {
		return "", err
	}
	return b.root, nil
}

// objEntry is an indexed object.
type objEntry struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // Unix nanoseconds
	ETag  string `json:"etag"`
	// CRC32C is the base64 big-endian CRC32C Cloud Storage reports.
	CRC32C string `json:"crc32c,omitempty"`
	// Gen is the object's generation, as Cloud Storage numbers them.
	Gen int64 `json:"gen"`
}

// consumerRec is a storage trigger on the bucket.
type consumerRec struct {
	Function string                 `json:"function"`
	Trigger  string                 `json:"trigger"`
	Events   []trigger.StorageEvent `json:"events"`
	Prefix   string                 `json:"prefix,omitempty"`
	Suffix   string                 `json:"suffix,omitempty"`
	Since    time.Time              `json:"since"`
	Enqueued int64                  `json:"enqueued"`
	// Delivered succeeded; Failed counts failed attempts; Dropped are
	// events given up after the last attempt.
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Dropped   int64 `json:"dropped"`
}

func (c *consumerRec) wants(ev trigger.StorageEvent, key string) bool {
	return slices.Contains(c.Events, ev) && strings.HasPrefix(key, c.Prefix) && strings.HasSuffix(key, c.Suffix)
}

func storageConsumerID(fn, key string) string { return fn + "/" + key }

func queueBucket(id string) []byte { return []byte("q/" + id) }

// objEvent is a pending object event of a consumer.
type objEvent struct {
	Seq   uint64               `json:"seq"`
	ID    string               `json:"id"`
	Event trigger.StorageEvent `json:"event"`
	Key   string               `json:"key"`
	// Obj is the object as created, or as it was before its deletion.
	Obj objEntry `json:"obj"`
	// Time is when it happened: the file's modification time for a
	// creation, when it was seen gone for a deletion.
	Time     time.Time `json:"time"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"nextAt,omitzero"`
}

// objChange is a settled change of one file.
type objChange struct {
	key     string
	deleted bool
	obj     objEntry // the new entry; for a deletion, the old one
	at      time.Time
}

func stBuckets(tx *bolt.Tx) error {
	for _, n := range [][]byte{bktStMeta, bktStIndex, bktStConsumers} {
		if _, err := tx.CreateBucketIfNotExists(n); err != nil {
			return err
		}
	}
	return nil
}

func bucketDB(ctx context.Context, b bucketPaths, fn func(tx *bolt.Tx) error) error {
	return updateBolt(ctx, b.db, "bucket "+b.name+"'s index", func(tx *bolt.Tx) error {
		if err := stBuckets(tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// viewBucketDB runs fn in a read-only transaction, the database opened
// shared (readers of several processes do not wait for each other, and
// an idle poll writes nothing). A bucket's database that does not exist
// yet is empty: fn is not called. fn must allow for missing buckets.
func viewBucketDB(ctx context.Context, b bucketPaths, fn func(tx *bolt.Tx) error) error {
	return viewBolt(ctx, b.db, "bucket "+b.name+"'s index", "the bucket is indexed again, without events", fn)
}

func getJSON[T any](b *bolt.Bucket, k []byte) (*T, error) {
	raw := b.Get(k)
	if raw == nil {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, driver.Wrap(driver.Internal, err, fmt.Sprintf("bucket state %q is corrupt", k))
	}
	return v, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// registerTx adds or updates the consumer of trigger s of function fn.
// Its counters and pending events are kept across updates.
func registerTx(tx *bolt.Tx, fn string, s trigger.Storage, now time.Time) error {
	s = trigger.Normalize(s).(trigger.Storage)
	cb := tx.Bucket(bktStConsumers)
	id := []byte(storageConsumerID(fn, s.Key))
	c, err := getJSON[consumerRec](cb, id)
	if err != nil {
		return err
	}
	if c == nil {
		c = &consumerRec{Function: fn, Trigger: s.Key, Since: now}
	}
	c.Events, c.Prefix, c.Suffix = s.Events, s.Prefix, s.Suffix
	if _, err := tx.CreateBucketIfNotExists(queueBucket(string(id))); err != nil {
		return err
	}
	return putJSON(cb, id, c)
}

// applyTx records changes in the index and enqueues each consumer's
// matching events.
func applyTx(tx *bolt.Tx, changes []objChange, ids *idGen) error {
	ib, cb := tx.Bucket(bktStIndex), tx.Bucket(bktStConsumers)
	type cons struct {
		id  string
		rec *consumerRec
		q   *bolt.Bucket
	}
	var cs []cons
	err := cb.ForEach(func(k, v []byte) error {
		c := new(consumerRec)
		if err := json.Unmarshal(v, c); err != nil {
			return driver.Wrap(driver.Internal, err, "a bucket consumer is corrupt")
		}
		q, err := tx.CreateBucketIfNotExists(queueBucket(string(k)))
		if err != nil {
			return err
		}
		cs = append(cs, cons{string(k), c, q})
		return nil
	})
	if err != nil {
		return err
	}
	for _, ch := range changes {
		ev := trigger.ObjectCreated
		if ch.deleted {
			ev = trigger.ObjectDeleted
			if err := ib.Delete([]byte(ch.key)); err != nil {
				return err
			}
		} else if err := putJSON(ib, []byte(ch.key), ch.obj); err != nil {
			return err
		}
		seq, err := tx.Bucket(bktStMeta).NextSequence()
		if err != nil {
			return err
		}
		for _, c := range cs {
			if !c.rec.wants(ev, ch.key) {
				continue
			}
			e := objEvent{Seq: seq, ID: ids.next(), Event: ev, Key: ch.key, Obj: ch.obj, Time: ch.at.UTC()}
			if err := putJSON(c.q, seqKey(seq), e); err != nil {
				return err
			}
			c.rec.Enqueued++
		}
	}
	for _, c := range cs {
		if err := putJSON(cb, []byte(c.id), c.rec); err != nil {
			return err
		}
	}
	return nil
}

// loadIndex reads the whole index; init is false when the bucket was
// never scanned.
func loadIndex(tx *bolt.Tx) (map[string]objEntry, bool, error) {
	idx := map[string]objEntry{}
	err := tx.Bucket(bktStIndex).ForEach(func(k, v []byte) error {
		var e objEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return driver.Wrap(driver.Internal, err, fmt.Sprintf("index entry %q is corrupt", k))
		}
		idx[string(k)] = e
		return nil
	})
	return idx, tx.Bucket(bktStMeta).Get(keyStInit) != nil, err
}

// StorageStats counts a local bucket's objects and its consumers' events.
type StorageStats struct {
	Bucket string `json:"bucket"`
	// Dir is the bucket's directory.
	Dir string `json:"dir"`
	// Objects and Bytes are what the index holds.
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Consumers are the storage triggers on the bucket, by function and
	// trigger key.
	Consumers []StorageConsumerStats `json:"consumers"`
}

// StorageConsumerStats counts one storage trigger's events.
type StorageConsumerStats struct {
	Function string `json:"function"`
	Trigger  string `json:"trigger"`
	// Pending are enqueued and not yet settled.
	Pending int `json:"pending"`
	// Enqueued counts events since the trigger was first seen; Delivered
	// those that succeeded; Failed the failed attempts; Dropped the
	// events given up after the last attempt.
	Enqueued  int64 `json:"enqueued"`
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
	Dropped   int64 `json:"dropped"`
}

// StorageStats reports local bucket's counts (a bucket name, or an ARN or
// gs:// URL ending in one). A bucket no trigger or BucketDir has used
// reports zeros.
func (h *Host) StorageStats(ctx context.Context, bucket string) (*StorageStats, error) {
	name := BucketName(bucket)
	if err := validBucketName(name); err != nil {
		return nil, err
	}
	b := h.bucketPaths(name)
	st := &StorageStats{Bucket: name, Dir: b.root, Consumers: []StorageConsumerStats{}}
	err := viewBucketDB(ctx, b, func(tx *bolt.Tx) error {
		ib, cb := tx.Bucket(bktStIndex), tx.Bucket(bktStConsumers)
		if ib == nil || cb == nil {
			return nil
		}
		if err := ib.ForEach(func(_, v []byte) error {
			var e objEntry
			if json.Unmarshal(v, &e) == nil {
				st.Objects++
				st.Bytes += e.Size
			}
			return nil
		}); err != nil {
			return err
		}
		return cb.ForEach(func(k, v []byte) error {
			var c consumerRec
			if err := json.Unmarshal(v, &c); err != nil {
				return driver.Wrap(driver.Internal, err, "a bucket consumer is corrupt")
			}
			cs := StorageConsumerStats{Function: c.Function, Trigger: c.Trigger,
				Enqueued: c.Enqueued, Delivered: c.Delivered, Failed: c.Failed, Dropped: c.Dropped}
			if q := tx.Bucket(queueBucket(string(k))); q != nil {
				cs.Pending = q.Stats().KeyN
			}
			st.Consumers = append(st.Consumers, cs)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Consumer returns the counts of function fn's trigger key; ok is false
// when the trigger is not registered on the bucket.
func (s *StorageStats) Consumer(fn, key string) (StorageConsumerStats, bool) {
	for _, c := range s.Consumers {
		if c.Function == fn && c.Trigger == key {
			return c, true
		}
	}
	return StorageConsumerStats{}, false
}
