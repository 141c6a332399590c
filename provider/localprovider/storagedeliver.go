package localprovider

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	bolt "go.etcd.io/bbolt"

	"github.com/updraft-dev/updraft/trigger"
)

// Storage deliveries: each consumer (a function's storage trigger on a
// bucket) gets its events one per invocation, in the order the changes
// settled, as S3 notifications and Cloud Storage events carry one object
// each. One process at a time delivers a consumer's events: the one
// holding DIR/buckets/.NAME.deliver.FUNCTION.KEY.lock. An event that
// fails (a function error, timeout, crash) is retried as Lambda retries an
// asynchronous invocation: three attempts in all, here one and then two
// seconds apart; after the last it is dropped, counted and logged with
// its key. An event that reached no function (throttled, no route, the
// host closing) is offered again without counting. An event leaves its
// queue only once its fate is known: at least once.

// storageWakeName is the name this host's bucket watchers wake the
// consumers of a bucket with (through the queues' wake-ups; no queue
// name contains ':').
func storageWakeName(bucket string) string { return "storage:" + bucket }

func (fr *fnRuntime) runStorage(ctx context.Context, s trigger.Storage, route string) {
	log := fr.h.opts.Logger
	s = trigger.Normalize(s).(trigger.Storage)
	b, err := fr.h.ensureBucket(s.Bucket)
	if err != nil {
		log.Warn("storage trigger not started", "function", fr.name, "trigger", s.Key, "err", err)
		return
	}
	for failures := 0; ; failures++ {
		err := bucketDB(ctx, b, func(tx *bolt.Tx) error { return registerTx(tx, fr.name, s, time.Now().UTC()) })
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		if failures%30 == 0 {
			log.Warn("storage trigger not registered on its bucket; retrying", "function", fr.name, "trigger", s.Key, "bucket", b.name, "err", err)
		}
		if !sleep(ctx, storageLockRetry, nil) {
			return
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer fr.h.recovered("bucket watcher", "bucket", b.name)
		fr.watchBucket(ctx, b)
	}()
	defer func() { <-done }()
	lock := b.deliverLock(fr.name, s.Key)
	for ctx.Err() == nil {
		unlock, ok, err := tryLockFile(lock)
		if ok {
			fr.deliverObjects(ctx, s, b, route)
			unlock()
		} else if err != nil {
			log.Warn("storage delivery lock not taken; retrying", "function", fr.name, "trigger", s.Key, "lock", lock, "err", err)
		}
		if !sleep(ctx, storageLockRetry, nil) {
			return
		}
	}
}

// deliverObjects delivers the consumer's events while ctx lasts.
func (fr *fnRuntime) deliverObjects(ctx context.Context, s trigger.Storage, b bucketPaths, route string) {
	log := fr.h.opts.Logger
	wake, stop := fr.h.queues.watch(storageWakeName(b.name))
	defer stop()
	id := storageConsumerID(fr.name, s.Key)
	failures := 0
	for ctx.Err() == nil {
		var ev *objEvent
		err := viewBucketDB(ctx, b, func(tx *bolt.Tx) error {
			ev = nil
			q := tx.Bucket(queueBucket(id))
			if q == nil {
				return nil
			}
			if _, v := q.Cursor().First(); v != nil {
				ev = new(objEvent)
				return json.Unmarshal(v, ev)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%50 == 0 {
				log.Warn("storage events not read; retrying", "function", fr.name, "trigger", s.Key, "bucket", b.name, "err", err)
			}
			sleep(ctx, storageLockRetry, nil)
			continue
		}
		failures = 0
		if ev == nil {
			sleep(ctx, storagePoll, wake)
			continue
		}
		if wait := time.Until(ev.NextAt); wait > 0 {
			sleep(ctx, min(wait, storagePoll), nil)
			continue
		}
		d := &delivery{route: route, trigger: s.Key,
			lambda: func() []byte { return s3Event(b.name, s.Key, ev) },
			http:   func() []httpEvent { return []httpEvent{gcsEvent(b.name, s.Key, ev)} }}
		res := fr.deliver(ctx, d)
		if !res.delivered {
			if res.retryAfter > 0 {
				sleep(ctx, res.retryAfter, nil)
			}
			continue
		}
		ok := !res.httpFailed[0]
		if res.lambda {
			ok = res.status == StatusOK
		}
		fr.settleObject(context.WithoutCancel(ctx), s, b, id, ev, ok, res)
	}
}

// settleObject deletes a delivered event, or counts a failed attempt and
// schedules the next one or drops the event after the last.
func (fr *fnRuntime) settleObject(ctx context.Context, s trigger.Storage, b bucketPaths, id string, ev *objEvent, ok bool, res *deliveryResult) {
	log := fr.h.opts.Logger
	now := time.Now().UTC()
	var dropped, retried bool
	err := bucketDB(ctx, b, func(tx *bolt.Tx) error {
		dropped, retried = false, false
		q, cb := tx.Bucket(queueBucket(id)), tx.Bucket(bktStConsumers)
		c, err := getJSON[consumerRec](cb, []byte(id))
		if err != nil || c == nil || q == nil {
			return err // forgotten meanwhile
		}
		cur, err := getJSON[objEvent](q, seqKey(ev.Seq))
		if err != nil || cur == nil {
			return err
		}
		switch {
		case ok:
			c.Delivered++
			err = q.Delete(seqKey(ev.Seq))
		default:
			c.Failed++
			cur.Attempts++
			if cur.Attempts >= storageAttempts {
				c.Dropped++
				dropped = true
				err = q.Delete(seqKey(ev.Seq))
			} else {
				retried = true
				cur.NextAt = now.Add(storageBackoff << (cur.Attempts - 1))
				err = putJSON(q, seqKey(ev.Seq), cur)
			}
		}
		if err != nil {
			return err
		}
		return putJSON(cb, []byte(id), c)
	})
	switch {
	case err != nil:
		log.Warn("storage event outcome not recorded; it will be delivered again", "function", fr.name, "trigger", s.Key, "bucket", b.name, "object", ev.Key, "err", err)
	case dropped:
		log.Warn("storage event dropped after its last attempt", "function", fr.name, "trigger", s.Key, "bucket", b.name, "object", ev.Key, "event", ev.Event, "attempts", storageAttempts, "status", res.status, "detail", res.detail)
	case retried:
		log.Info("storage event failed; retrying", "function", fr.name, "trigger", s.Key, "bucket", b.name, "object", ev.Key, "event", ev.Event, "status", res.status, "detail", res.detail)
	}
}

// s3Key is a key as S3 notifications carry it: URL-encoded as a form
// value (a space is '+'), with its slashes kept.
func s3Key(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.QueryEscape(p)
	}
	return strings.Join(parts, "/")
}

// s3Event is an event as an S3 event notification delivers it to Lambda.
func s3Event(bucket, key string, ev *objEvent) []byte {
	name, obj := "ObjectCreated:Put", events.S3Object{Key: s3Key(ev.Key), Size: ev.Obj.Size, ETag: ev.Obj.ETag}
	if ev.Event == trigger.ObjectDeleted {
		name, obj = "ObjectRemoved:Delete", events.S3Object{Key: s3Key(ev.Key)}
	}
	obj.Sequencer = fmt.Sprintf("%016X", ev.Seq)
	owner := events.S3UserIdentity{PrincipalID: "local"}
	e := events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: "local", EventTime: ev.Time.UTC(), EventName: name,
		PrincipalID:       owner,
		RequestParameters: events.S3RequestParameters{SourceIPAddress: "127.0.0.1"},
		ResponseElements:  map[string]string{"x-amz-request-id": ev.ID},
		S3: events.S3Entity{SchemaVersion: "1.0", ConfigurationID: key,
			Bucket: events.S3Bucket{Name: bucket, OwnerIdentity: owner, Arn: "arn:aws:s3:::" + bucket},
			Object: obj},
	}}}
	raw, _ := json.Marshal(e)
	return raw
}

// gcsObject is Cloud Storage's StorageObjectData, as its object events
// carry it in JSON.
type gcsObject struct {
	Kind           string `json:"kind"`
	ID             string `json:"id"`
	SelfLink       string `json:"selfLink"`
	Name           string `json:"name"`
	Bucket         string `json:"bucket"`
	Generation     string `json:"generation"`
	Metageneration string `json:"metageneration"`
	ContentType    string `json:"contentType"`
	TimeCreated    string `json:"timeCreated"`
	Updated        string `json:"updated"`
	StorageClass   string `json:"storageClass"`
	Size           string `json:"size"`
	MD5Hash        string `json:"md5Hash,omitempty"`
	CRC32C         string `json:"crc32c,omitempty"`
	ETag           string `json:"etag"`
}

// gcsEvent is an event as Eventarc delivers a Cloud Storage object event
// to Cloud Run: a binary-mode CloudEvent whose data is the object.
func gcsEvent(bucket, key string, ev *objEvent) httpEvent {
	typ := "google.cloud.storage.object.v1.finalized"
	if ev.Event == trigger.ObjectDeleted {
		typ = "google.cloud.storage.object.v1.deleted"
	}
	ct := mime.TypeByExtension(path.Ext(ev.Key))
	if ct == "" {
		ct = "application/octet-stream"
	}
	t := time.Unix(0, ev.Obj.MTime).UTC().Format(time.RFC3339Nano)
	gen := strconv.FormatInt(ev.Obj.Gen, 10)
	o := gcsObject{Kind: "storage#object", ID: bucket + "/" + ev.Key + "/" + gen,
		SelfLink: "https://www.googleapis.com/storage/v1/b/" + bucket + "/o/" + url.PathEscape(ev.Key),
		Name:     ev.Key, Bucket: bucket, Generation: gen, Metageneration: "1", ContentType: ct,
		TimeCreated: t, Updated: t, StorageClass: "STANDARD", Size: strconv.FormatInt(ev.Obj.Size, 10),
		MD5Hash: md5Base64(ev.Obj.ETag), CRC32C: ev.Obj.CRC32C, ETag: ev.Obj.ETag}
	body, _ := json.Marshal(o)
	return httpEvent{header: ceHeader(typ, "//storage.googleapis.com/projects/_/buckets/"+bucket, ev.ID, ev.Time, "objects/"+ev.Key, key), body: body}
}

// md5Base64 is a hex MD5 as Cloud Storage's md5Hash (base64).
func md5Base64(etag string) string {
	b, err := hex.DecodeString(etag)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}
