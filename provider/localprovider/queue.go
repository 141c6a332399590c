package localprovider

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/updraft-dev/updraft/provider/driver"
)

// A local queue is a bbolt database, DIR/queues/NAME.db, opened for each
// operation and closed after it: bbolt locks the file while it is open,
// so several processes (hosts, the CLI) share a queue by taking turns,
// and every committed send survives the sender's and the host's death.
// bbolt was chosen over a hand-written journal because receiving is a
// read-modify-write of many messages (visibility, receive counts, FIFO
// groups) that must be atomic across processes: its transactions give
// that, and its format is checked on open.

// Queue defaults, as SQS has them where it has one.
const (
	defaultVisibility      = 30 * time.Second
	defaultRetention       = 4 * 24 * time.Hour
	defaultMaxReceiveCount = 5
	fifoDedupWindow        = 5 * time.Minute
	maxQueueMessage        = 256 << 10 // SQS's limit
	queueOpenTimeout       = 10 * time.Second
)

// QueueOptions configure a local queue (Host.CreateQueue). The zero
// value is a standard queue with SQS's defaults and a dead-letter queue.
type QueueOptions struct {
	// VisibilityTimeout is how long a received message stays hidden
	// before it can be received again; 0 means 30 s. Deliveries to a
	// function hide messages for at least its timeout, as Lambda requires
	// of a queue it polls.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is how many receives a message gets before it is
	// moved to the dead-letter queue; 0 means 5, a negative value never
	// (the message is retried until it expires).
	MaxReceiveCount int
	// DeadLetterQueue names the dead-letter queue; "" means NAME-dlq
	// (NAME-dlq.fifo for a FIFO queue). A queue whose name ends in -dlq
	// has no dead-letter queue of its own unless this names one.
	DeadLetterQueue string
	// FIFO delivers the messages of each group in order, one batch of a
	// group at a time, and drops duplicates within 5 minutes. A name
	// ending in .fifo implies it, as on SQS.
	FIFO bool
	// Retention is how long an undeleted message is kept; 0 means 4 days.
	Retention time.Duration
}

// queueConfig is the stored form of QueueOptions, with defaults applied.
type queueConfig struct {
	Visibility      time.Duration `json:"visibility"`
	MaxReceiveCount int           `json:"maxReceiveCount"`
	DeadLetter      string        `json:"deadLetter,omitempty"`
	FIFO            bool          `json:"fifo"`
	Retention       time.Duration `json:"retention"`
	Created         time.Time     `json:"created"`
}

// QueueMessage is a message to send.
type QueueMessage struct {
	Body []byte
	// Attributes are string message attributes.
	Attributes map[string]string
	// GroupID is required on a FIFO queue: messages of a group are
	// delivered in the order sent.
	GroupID string
	// DeduplicationID drops a second send with the same id within 5
	// minutes on a FIFO queue; "" means the body's SHA-256 (SQS's
	// content-based deduplication).
	DeduplicationID string
	// Delay hides the message for this long after it is sent (up to 15
	// minutes).
	Delay time.Duration
}

// QueueStats counts a queue's messages now and since it was created.
type QueueStats struct {
	Name string `json:"name"`
	// Visible can be received now; InFlight are received and hidden;
	// Delayed were sent with a delay not yet over.
	Visible  int `json:"visible"`
	InFlight int `json:"inFlight"`
	Delayed  int `json:"delayed"`
	// Sent, Received (every receive, redeliveries included), Deleted
	// (processed), Redelivered (receives after the first),
	// DeadLettered (moved to the dead-letter queue) and Expired
	// (dropped at the end of their retention) count since creation.
	Sent         int64 `json:"sent"`
	Received     int64 `json:"received"`
	Deleted      int64 `json:"deleted"`
	Redelivered  int64 `json:"redelivered"`
	DeadLettered int64 `json:"deadLettered"`
	Expired      int64 `json:"expired"`
	// DeadLetterQueue is where messages go after MaxReceiveCount
	// receives; "" when nowhere.
	DeadLetterQueue string `json:"deadLetterQueue,omitempty"`
	MaxReceiveCount int    `json:"maxReceiveCount"`
	FIFO            bool   `json:"fifo"`
}

type queueCounters struct {
	Sent, Received, Deleted, Redelivered, DeadLettered, Expired int64
}

// storedMessage is a message in a queue.
type storedMessage struct {
	ID         string            `json:"id"`
	Body       []byte            `json:"body"`
	Attributes map[string]string `json:"attrs,omitempty"`
	// AttrTypes are the SQS data types of attributes that are not
	// "String" ("Number", "Number.int", …).
	AttrTypes map[string]string `json:"attrTypes,omitempty"`
	Group     string            `json:"group,omitempty"`
	Dedup     string            `json:"dedup,omitempty"`
	Seq       uint64            `json:"seq"`
	Sent      time.Time         `json:"sent"`
	VisibleAt time.Time         `json:"visibleAt"`
	Receives  int               `json:"receives"`
	FirstRecv time.Time         `json:"firstReceive,omitzero"`
	Receipt   string            `json:"receipt,omitempty"`
	// From names the queue a dead-lettered message came from.
	From string `json:"from,omitempty"`
}

// receipt is the handle of one receive: the sequence number and the
// receipt token.
func (m *storedMessage) receiptHandle() string {
	return strconv.FormatUint(m.Seq, 16) + "." + m.Receipt
}

func parseReceipt(h string) (uint64, string, bool) {
	s, tok, ok := strings.Cut(h, ".")
	if !ok || tok == "" {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(s, 16, 64)
	return seq, tok, err == nil
}

var (
	bktConfig = []byte("config")
	bktMsgs   = []byte("messages")
	bktIDs    = []byte("ids")
	bktDedup  = []byte("dedup")
	keyConfig = []byte("config")
	keyStats  = []byte("stats")
)

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// QueueName is the local queue a trigger source names: the last element
// of an ARN, a topic path or a URL ("arn:aws:sqs:us-east-1:1:orders",
// "projects/p/topics/orders" and "orders" all name "orders"), so one
// Spec deploys to a cloud and to local:// alike.
func QueueName(source string) string { return lastElement(source) }

// lastElement is what follows the last ':' or '/' of a name.
func lastElement(name string) string {
	s := strings.TrimRight(strings.TrimSpace(name), "/")
	if i := strings.LastIndexAny(s, ":/"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func validQueueName(name string) error {
	base := strings.TrimSuffix(name, ".fifo")
	if !queueNameRE.MatchString(base) || len(name) > 80 {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue name %q: use 1 to 80 letters, digits, '-' and '_', with an optional .fifo suffix", name))
	}
	return nil
}

// queueStore is one queue's database.
type queueStore struct {
	name string
	path string
	// mu serializes this process's users of the handle; bbolt's file lock
	// serializes processes (and other handles).
	mu sync.Mutex

	// Sends that arrive while one is being committed are committed
	// together by the next transaction (group commit): one open and one
	// fsync for all of them.
	smu      sync.Mutex
	pending  []*sendReq
	flushing bool
}

type sendReq struct {
	msgs  []QueueMessage
	types []map[string]string
	sent  []sentMessage
	err   error
	done  chan struct{}
}

// queues holds a host's queue handles and the wake-ups of its pollers.
type queues struct {
	h  *Host
	mu sync.Mutex
	m  map[string]*queueStore
	// waiters are woken when this host sends to a queue.
	waiters map[string]map[chan struct{}]struct{}
}

func (qs *queues) store(name string) (*queueStore, error) {
	if err := validQueueName(name); err != nil {
		return nil, err
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.m == nil {
		qs.m = map[string]*queueStore{}
	}
	s := qs.m[name]
	if s == nil {
		s = &queueStore{name: name, path: filepath.Join(qs.h.dir, "queues", name+".db")}
		qs.m[name] = s
	}
	return s, nil
}

// watch returns a channel that is signalled when this host sends to name,
// and a function to stop watching.
func (qs *queues) watch(name string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	qs.mu.Lock()
	if qs.waiters == nil {
		qs.waiters = map[string]map[chan struct{}]struct{}{}
	}
	if qs.waiters[name] == nil {
		qs.waiters[name] = map[chan struct{}]struct{}{}
	}
	qs.waiters[name][ch] = struct{}{}
	qs.mu.Unlock()
	return ch, func() {
		qs.mu.Lock()
		delete(qs.waiters[name], ch)
		qs.mu.Unlock()
	}
}

func (qs *queues) wake(name string) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	for ch := range qs.waiters[name] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// do runs fn in a read-write transaction of the queue's database,
// creating it (with opts, or the defaults for its name) if needed.
func (s *queueStore) do(ctx context.Context, opts *QueueOptions, fn func(tx *bolt.Tx, cfg *queueConfig) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return updateBolt(ctx, s.path, "queue "+s.name, func(tx *bolt.Tx) error {
		cfg, err := queueConfigOf(tx, s.name, opts)
		if err != nil {
			return err
		}
		return fn(tx, cfg)
	})
}

// viewBolt runs fn in a read-only transaction of the bbolt database at
// path, opened shared: readers in several processes do not wait for each
// other, and an idle poll writes nothing. A database that does not exist
// yet, or that a writer has created and not yet initialised (which a
// read-only open cannot do), is empty: fn is not called. damaged says
// what removing a damaged file does.
func viewBolt(ctx context.Context, path, what, damaged string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if fi, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
		return nil
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: queueOpenTimeout, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return driver.NewError(driver.ResourceExhausted, fmt.Sprintf("%s is locked by another process for over %s: retry, or stop the process holding %s", what, queueOpenTimeout, path))
		}
		return driver.Wrap(driver.Internal, err, fmt.Sprintf("opening %s (%s): if the file is damaged, remove it (%s)", what, path, damaged))
	}
	defer db.Close()
	return db.View(fn)
}

// updateBolt opens the bbolt database at path (what names it in errors),
// runs fn in a read-write transaction and closes it: the file is locked
// only for the transaction, so processes sharing a state directory take
// turns. Callers serialize their own process's uses of one path.
func updateBolt(ctx context.Context, path, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return driver.Wrap(driver.Internal, err, "creating the directory of "+what)
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: queueOpenTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return driver.NewError(driver.ResourceExhausted, fmt.Sprintf("%s is locked by another process for over %s: retry, or stop the process holding %s", what, queueOpenTimeout, path))
		}
		return driver.Wrap(driver.Internal, err, fmt.Sprintf("opening %s (%s): if the file is damaged, remove it", what, path))
	}
	defer db.Close()
	return db.Update(fn)
}

// queueConfigOf reads the queue's configuration, creating the queue's
// buckets and configuration on first use.
func queueConfigOf(tx *bolt.Tx, name string, opts *QueueOptions) (*queueConfig, error) {
	b := tx.Bucket(bktConfig)
	if b != nil {
		if raw := b.Get(keyConfig); raw != nil {
			var c queueConfig
			if err := json.Unmarshal(raw, &c); err != nil {
				return nil, driver.Wrap(driver.Internal, err, "queue "+name+" configuration is corrupt")
			}
			return &c, nil
		}
	}
	c, err := newQueueConfig(name, opts)
	if err != nil {
		return nil, err
	}
	for _, n := range [][]byte{bktConfig, bktMsgs, bktIDs, bktDedup} {
		if _, err := tx.CreateBucketIfNotExists(n); err != nil {
			return nil, err
		}
	}
	raw, _ := json.Marshal(c)
	return c, tx.Bucket(bktConfig).Put(keyConfig, raw)
}

func newQueueConfig(name string, opts *QueueOptions) (*queueConfig, error) {
	var o QueueOptions
	if opts != nil {
		o = *opts
	}
	fifo := strings.HasSuffix(name, ".fifo")
	if o.FIFO && !fifo {
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue %s: a FIFO queue's name ends in .fifo, as on SQS: name it %s.fifo", name, name))
	}
	switch {
	case o.VisibilityTimeout < 0 || o.VisibilityTimeout > 12*time.Hour:
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue %s: visibility timeout %s: use 0 (30 s) to 12h", name, o.VisibilityTimeout))
	case o.Retention < 0 || o.Retention > 14*24*time.Hour:
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue %s: retention %s: use 0 (4 days) to 14 days", name, o.Retention))
	case o.MaxReceiveCount > 1000:
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue %s: max receive count %d: use 1 to 1000, 0 for 5, or a negative value for none", name, o.MaxReceiveCount))
	}
	c := &queueConfig{Visibility: o.VisibilityTimeout, MaxReceiveCount: o.MaxReceiveCount, DeadLetter: o.DeadLetterQueue,
		FIFO: fifo, Retention: o.Retention, Created: time.Now().UTC()}
	if c.Visibility == 0 {
		c.Visibility = defaultVisibility
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	base := strings.TrimSuffix(name, ".fifo")
	switch {
	case c.MaxReceiveCount < 0:
		c.MaxReceiveCount, c.DeadLetter = 0, ""
	case c.DeadLetter == "" && strings.HasSuffix(base, "-dlq"):
		c.MaxReceiveCount = 0
	default:
		if c.MaxReceiveCount == 0 {
			c.MaxReceiveCount = defaultMaxReceiveCount
		}
		if c.DeadLetter == "" {
			c.DeadLetter = base + "-dlq"
			if fifo {
				c.DeadLetter += ".fifo"
			}
		}
	}
	if c.DeadLetter != "" {
		if err := validQueueName(c.DeadLetter); err != nil {
			return nil, err
		}
		if c.DeadLetter == name {
			return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue %s cannot be its own dead-letter queue", name))
		}
		if strings.HasSuffix(c.DeadLetter, ".fifo") != fifo {
			return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue %s: dead-letter queue %s must be of the same type (FIFO or standard), as on SQS", name, c.DeadLetter))
		}
	}
	return c, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func counters(tx *bolt.Tx) queueCounters {
	var c queueCounters
	if raw := tx.Bucket(bktConfig).Get(keyStats); raw != nil {
		json.Unmarshal(raw, &c)
	}
	return c
}

func putCounters(tx *bolt.Tx, c queueCounters) error {
	raw, _ := json.Marshal(c)
	return tx.Bucket(bktConfig).Put(keyStats, raw)
}

func putMessage(tx *bolt.Tx, m *storedMessage) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Bucket(bktMsgs).Put(seqKey(m.Seq), raw)
}

func deleteMessage(tx *bolt.Tx, m *storedMessage) error {
	if err := tx.Bucket(bktIDs).Delete([]byte(m.ID)); err != nil {
		return err
	}
	return tx.Bucket(bktMsgs).Delete(seqKey(m.Seq))
}

// validateMessage checks a message before it is sent.
func validateMessage(name string, fifo bool, m *QueueMessage) error {
	switch {
	case len(m.Body) == 0:
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("message to queue %s has an empty body: SQS requires at least one character", name))
	case len(m.Body) > maxQueueMessage:
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("message to queue %s is %d bytes, over the 256 KiB limit: store the payload elsewhere and send a reference", name, len(m.Body)))
	case m.Delay < 0 || m.Delay > 15*time.Minute:
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("message to queue %s: delay %s: use 0 to 15m", name, m.Delay))
	case fifo && m.GroupID == "":
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("message to FIFO queue %s has no group id: give it one (QueueMessage.GroupID, MessageGroupId, updraft queue send --group)", name))
	case !fifo && (m.GroupID != "" || m.DeduplicationID != ""):
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("message to queue %s: group and deduplication ids are for FIFO queues (names ending in .fifo)", name))
	case fifo && m.Delay > 0:
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("message to FIFO queue %s: per-message delays are not allowed on FIFO queues", name))
	}
	return nil
}

// sentMessage is the id and sequence number a send gave a message.
type sentMessage struct {
	id  string
	seq uint64
}

// sendTx appends msgs, checked before (validateMessage); a duplicate on
// a FIFO queue gets the id of the message it duplicates.
func sendTx(tx *bolt.Tx, cfg *queueConfig, ids *idGen, now time.Time, msgs []QueueMessage, types []map[string]string) ([]sentMessage, error) {
	mb, db := tx.Bucket(bktMsgs), tx.Bucket(bktDedup)
	c := counters(tx)
	out := make([]sentMessage, len(msgs))
	for i, in := range msgs {
		m := &storedMessage{Body: in.Body, Attributes: in.Attributes, Group: in.GroupID, Sent: now, VisibleAt: now.Add(in.Delay)}
		if i < len(types) {
			m.AttrTypes = types[i]
		}
		if cfg.FIFO {
			m.Dedup = in.DeduplicationID
			if m.Dedup == "" {
				m.Dedup = contentDedup(in.Body)
			}
			if raw := db.Get([]byte(m.Dedup)); raw != nil {
				f := strings.Fields(string(raw))
				if len(f) == 3 {
					t, err := time.Parse(time.RFC3339Nano, f[2])
					seq, _ := strconv.ParseUint(f[1], 10, 64)
					if err == nil && now.Sub(t) < fifoDedupWindow {
						out[i] = sentMessage{f[0], seq}
						continue
					}
				}
			}
		}
		seq, err := mb.NextSequence()
		if err != nil {
			return nil, err
		}
		m.Seq, m.ID = seq, ids.next()
		if err := putMessage(tx, m); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bktIDs).Put([]byte(m.ID), seqKey(seq)); err != nil {
			return nil, err
		}
		if cfg.FIFO {
			if err := db.Put([]byte(m.Dedup), fmt.Appendf(nil, "%s %d %s", m.ID, seq, now.Format(time.RFC3339Nano))); err != nil {
				return nil, err
			}
		}
		out[i] = sentMessage{m.ID, seq}
		c.Sent++
	}
	return out, putCounters(tx, c)
}

func contentDedup(body []byte) string {
	sum := sha256.Sum256(body)
	return "content-" + hex.EncodeToString(sum[:])
}

// received is one message of a receive, and what to do with the
// messages that reached their receive limit.
type received struct {
	msgs []*storedMessage
	// dead are to be moved to the dead-letter queue.
	dead []*storedMessage
}

// receiveTx takes up to max visible messages, hiding them for vis. On a
// FIFO queue it takes none of a group with a message in flight, and the
// messages of a group in order. Messages past their retention are
// dropped; messages received MaxReceiveCount times come back in dead.
func receiveTx(tx *bolt.Tx, cfg *queueConfig, now time.Time, max int, vis time.Duration) (*received, error) {
	out := &received{}
	c := counters(tx)
	blocked := map[string]bool{}
	cur := tx.Bucket(bktMsgs).Cursor()
	var expired []*storedMessage
	for k, v := cur.First(); k != nil && len(out.msgs) < max; k, v = cur.Next() {
		m := new(storedMessage)
		if err := json.Unmarshal(v, m); err != nil {
			return nil, driver.Wrap(driver.Internal, err, "a stored message is corrupt")
		}
		if now.Sub(m.Sent) > cfg.Retention {
			expired = append(expired, m)
			continue
		}
		if cfg.FIFO && blocked[m.Group] {
			continue
		}
		if m.VisibleAt.After(now) {
			if cfg.FIFO {
				blocked[m.Group] = true
			}
			continue
		}
		if cfg.DeadLetter != "" && cfg.MaxReceiveCount > 0 && m.Receives >= cfg.MaxReceiveCount {
			out.dead = append(out.dead, m)
			if cfg.FIFO {
				// The group waits until the message has moved.
				blocked[m.Group] = true
			}
			continue
		}
		out.msgs = append(out.msgs, m)
	}
	for _, m := range expired {
		if err := deleteMessage(tx, m); err != nil {
			return nil, err
		}
		c.Expired++
	}
	for _, m := range out.msgs {
		m.Receives++
		if m.Receives > 1 {
			c.Redelivered++
		}
		if m.FirstRecv.IsZero() {
			m.FirstRecv = now
		}
		m.VisibleAt = now.Add(vis)
		m.Receipt = newETag()
		if err := putMessage(tx, m); err != nil {
			return nil, err
		}
		c.Received++
	}
	return out, putCounters(tx, c)
}

// deleteTx deletes the messages whose receipts are current, and returns
// how many it deleted (a receipt of an earlier receive is ignored: the
// message was received again since).
func deleteTx(tx *bolt.Tx, receipts []string) (int, error) {
	c := counters(tx)
	n := 0
	for _, h := range receipts {
		m, ok, err := byReceipt(tx, h)
		if err != nil {
			return n, err
		}
		if !ok {
			continue
		}
		if err := deleteMessage(tx, m); err != nil {
			return n, err
		}
		n++
		c.Deleted++
	}
	return n, putCounters(tx, c)
}

// releaseTx makes received messages visible again after wait; undo also
// takes back their receive (they never reached a function).
func releaseTx(tx *bolt.Tx, receipts []string, now time.Time, wait time.Duration, undo bool) error {
	c := counters(tx)
	for _, h := range receipts {
		m, ok, err := byReceipt(tx, h)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		m.VisibleAt = now.Add(wait)
		if undo && m.Receives > 0 {
			m.Receives--
			c.Received--
			if m.Receives > 0 {
				c.Redelivered--
			}
		}
		if err := putMessage(tx, m); err != nil {
			return err
		}
	}
	return putCounters(tx, c)
}

func byReceipt(tx *bolt.Tx, h string) (*storedMessage, bool, error) {
	seq, tok, ok := parseReceipt(h)
	if !ok {
		return nil, false, driver.NewError(driver.InvalidArgument, fmt.Sprintf("receipt handle %q is not one this queue gave", h))
	}
	raw := tx.Bucket(bktMsgs).Get(seqKey(seq))
	if raw == nil {
		return nil, false, nil
	}
	m := new(storedMessage)
	if err := json.Unmarshal(raw, m); err != nil {
		return nil, false, driver.Wrap(driver.Internal, err, "a stored message is corrupt")
	}
	return m, m.Receipt == tok, nil
}

// deadLetterTx adds dead-lettered messages to a dead-letter queue, once
// each (by message id: a move interrupted before the source deleted them
// is not doubled).
func deadLetterTx(tx *bolt.Tx, from string, now time.Time, msgs []*storedMessage) error {
	c := counters(tx)
	ib := tx.Bucket(bktIDs)
	for _, src := range msgs {
		if ib.Get([]byte(src.ID)) != nil {
			continue
		}
		seq, err := tx.Bucket(bktMsgs).NextSequence()
		if err != nil {
			return err
		}
		m := &storedMessage{ID: src.ID, Body: src.Body, Attributes: src.Attributes, AttrTypes: src.AttrTypes, Group: src.Group, Seq: seq,
			Sent: src.Sent, VisibleAt: now, From: from}
		if err := putMessage(tx, m); err != nil {
			return err
		}
		if err := ib.Put([]byte(m.ID), seqKey(seq)); err != nil {
			return err
		}
		c.Sent++
	}
	return putCounters(tx, c)
}

// forgetDeadTx deletes moved messages from their source queue, unless
// they were received again meanwhile.
func forgetDeadTx(tx *bolt.Tx, msgs []*storedMessage) error {
	c := counters(tx)
	for _, d := range msgs {
		raw := tx.Bucket(bktMsgs).Get(seqKey(d.Seq))
		if raw == nil {
			continue
		}
		var m storedMessage
		if json.Unmarshal(raw, &m) != nil || m.Receipt != d.Receipt || m.Receives != d.Receives {
			continue
		}
		if err := deleteMessage(tx, &m); err != nil {
			return err
		}
		c.DeadLettered++
	}
	return putCounters(tx, c)
}

func statsTx(tx *bolt.Tx, cfg *queueConfig, name string, now time.Time) QueueStats {
	c := counters(tx)
	st := QueueStats{Name: name, Sent: c.Sent, Received: c.Received, Deleted: c.Deleted, Redelivered: c.Redelivered,
		DeadLettered: c.DeadLettered, Expired: c.Expired, DeadLetterQueue: cfg.DeadLetter, MaxReceiveCount: cfg.MaxReceiveCount, FIFO: cfg.FIFO}
	tx.Bucket(bktMsgs).ForEach(func(_, v []byte) error {
		var m storedMessage
		if json.Unmarshal(v, &m) != nil {
			return nil
		}
		switch {
		case !m.VisibleAt.After(now):
			st.Visible++
		case m.Receives > 0:
			st.InFlight++
		default:
			st.Delayed++
		}
		return nil
	})
	return st
}

// PeekedMessage is a message as Host.PeekMessages shows it.
type PeekedMessage struct {
	ID         string            `json:"id"`
	Body       []byte            `json:"body"`
	Attributes map[string]string `json:"attributes,omitempty"`
	GroupID    string            `json:"groupId,omitempty"`
	Sent       time.Time         `json:"sent"`
	// Receives is how many times it was received; From names the queue
	// it was dead-lettered from.
	Receives int    `json:"receives"`
	From     string `json:"from,omitempty"`
}

func peekTx(tx *bolt.Tx, max int) []PeekedMessage {
	var out []PeekedMessage
	c := tx.Bucket(bktMsgs).Cursor()
	for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
		var m storedMessage
		if json.Unmarshal(v, &m) != nil {
			continue
		}
		out = append(out, PeekedMessage{ID: m.ID, Body: m.Body, Attributes: m.Attributes, GroupID: m.Group, Sent: m.Sent, Receives: m.Receives, From: m.From})
	}
	return out
}

// CreateQueue creates local queue name with opts (nil means the
// defaults), or checks that an existing one has them: a queue's
// configuration is fixed at creation. Queues are also created, with the
// defaults, by their first send or trigger.
func (h *Host) CreateQueue(ctx context.Context, name string, opts *QueueOptions) error {
	s, err := h.queues.store(name)
	if err != nil {
		return err
	}
	want, err := newQueueConfig(name, opts)
	if err != nil {
		return err
	}
	return s.do(ctx, opts, func(tx *bolt.Tx, cfg *queueConfig) error {
		got := *cfg
		got.Created = want.Created
		if got != *want {
			return driver.NewError(driver.AlreadyExists, fmt.Sprintf("queue %s exists with another configuration (visibility %s, max receive count %d, dead-letter queue %q): delete %s to recreate it", name, cfg.Visibility, cfg.MaxReceiveCount, cfg.DeadLetter, s.path))
		}
		return nil
	})
}

// SendMessages sends msgs to local queue name in one transaction and
// returns their ids. The queue is created with the defaults if it does
// not exist. Every message is checked before any is sent.
func (h *Host) SendMessages(ctx context.Context, name string, msgs ...QueueMessage) ([]string, error) {
	sent, err := h.sendTyped(ctx, name, msgs, nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(sent))
	for i, m := range sent {
		ids[i] = m.id
	}
	return ids, nil
}

// sendTyped sends msgs, types[i] giving the SQS data types of message
// i's attributes.
func (h *Host) sendTyped(ctx context.Context, name string, msgs []QueueMessage, types []map[string]string) ([]sentMessage, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	s, err := h.queues.store(name)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		if err := validateMessage(name, strings.HasSuffix(name, ".fifo"), &msgs[i]); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &sendReq{msgs: msgs, types: types, done: make(chan struct{})}
	s.smu.Lock()
	s.pending = append(s.pending, r)
	lead := !s.flushing
	s.flushing = true
	s.smu.Unlock()
	if lead {
		h.flushSends(s, true)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		// The send may still be committed, as a request that timed out
		// may have reached a cloud queue.
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	h.queues.wake(name)
	return r.sent, nil
}

// flushSends commits the pending sends of s in one transaction. The
// caller that found no commit under way runs the first (its own send is
// in it) and, when more sends arrived meanwhile, hands them to a
// goroutine that commits a transaction for all that are waiting until
// none is: a sender never waits for more than the commit in progress and
// its own.
func (h *Host) flushSends(s *queueStore, inline bool) {
	for {
		s.smu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.flushing = false
			s.smu.Unlock()
			return
		}
		s.smu.Unlock()
		h.commitSends(s, batch)
		if inline {
			s.smu.Lock()
			more := len(s.pending) > 0
			if !more {
				s.flushing = false
			}
			s.smu.Unlock()
			if more {
				go func() {
					defer func() {
						if v := recover(); v != nil {
							h.opts.Logger.Error("queue sends panicked; they failed", "queue", s.name, "panic", fmt.Sprint(v))
							s.smu.Lock()
							failed := s.pending
							s.pending, s.flushing = nil, false
							s.smu.Unlock()
							for _, r := range failed {
								r.err = driver.NewError(driver.Internal, fmt.Sprintf("sending to queue %s: %v", s.name, v))
								close(r.done)
							}
						}
					}()
					h.flushSends(s, false)
				}()
			}
			return
		}
	}
}

// commitSends sends a batch of requests in one transaction and tells
// each how it went.
func (h *Host) commitSends(s *queueStore, batch []*sendReq) {
	now := time.Now().UTC()
	// No sender's context: the end of one must not fail the others.
	err := s.do(context.Background(), nil, func(tx *bolt.Tx, cfg *queueConfig) error {
		for _, r := range batch {
			var err error
			if r.sent, err = sendTx(tx, cfg, &h.ids, now, r.msgs, r.types); err != nil {
				return err
			}
		}
		return nil
	})
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// QueueStats reports local queue name's counts.
func (h *Host) QueueStats(ctx context.Context, name string) (*QueueStats, error) {
	s, err := h.queues.store(name)
	if err != nil {
		return nil, err
	}
	var st QueueStats
	err = s.do(ctx, nil, func(tx *bolt.Tx, cfg *queueConfig) error {
		st = statsTx(tx, cfg, name, time.Now())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// PeekMessages returns up to max of queue name's messages, oldest first,
// without receiving them: to look into a dead-letter queue.
func (h *Host) PeekMessages(ctx context.Context, name string, max int) ([]PeekedMessage, error) {
	s, err := h.queues.store(name)
	if err != nil {
		return nil, err
	}
	var out []PeekedMessage
	err = s.do(ctx, nil, func(tx *bolt.Tx, _ *queueConfig) error {
		out = peekTx(tx, max)
		return nil
	})
	return out, err
}

// receive takes a batch for a poller and moves any message past its
// receive limit to the dead-letter queue first.
func (qs *queues) receive(ctx context.Context, name string, n int, vis time.Duration) ([]*storedMessage, *queueConfig, error) {
	s, err := qs.store(name)
	if err != nil {
		return nil, nil, err
	}
	var r *received
	var cfg queueConfig
	now := time.Now().UTC()
	err = s.do(ctx, nil, func(tx *bolt.Tx, c *queueConfig) error {
		cfg = *c
		r, err = receiveTx(tx, c, now, n, max(vis, c.Visibility))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if len(r.dead) > 0 {
		if err := qs.deadLetter(ctx, name, cfg.DeadLetter, r.dead); err != nil {
			qs.h.opts.Logger.Warn("messages not moved to the dead-letter queue; they stay where they are", "queue", name, "deadLetterQueue", cfg.DeadLetter, "err", err)
		}
	}
	return r.msgs, &cfg, nil
}

func (qs *queues) deadLetter(ctx context.Context, from, to string, msgs []*storedMessage) error {
	d, err := qs.store(to)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	if err := d.do(ctx, nil, func(tx *bolt.Tx, _ *queueConfig) error { return deadLetterTx(tx, from, now, msgs) }); err != nil {
		return err
	}
	s, _ := qs.store(from)
	if err := s.do(ctx, nil, func(tx *bolt.Tx, _ *queueConfig) error { return forgetDeadTx(tx, msgs) }); err != nil {
		return err
	}
	for _, m := range msgs {
		qs.h.opts.Logger.Warn("message moved to the dead-letter queue", "queue", from, "deadLetterQueue", to, "messageId", m.ID, "receives", m.Receives)
	}
	qs.wake(to)
	return nil
}

func (qs *queues) ack(ctx context.Context, name string, receipts []string) error {
	if len(receipts) == 0 {
		return nil
	}
	s, err := qs.store(name)
	if err != nil {
		return err
	}
	return s.do(ctx, nil, func(tx *bolt.Tx, _ *queueConfig) error {
		_, err := deleteTx(tx, receipts)
		return err
	})
}

func (qs *queues) release(ctx context.Context, name string, receipts []string, wait time.Duration, undo bool) error {
	if len(receipts) == 0 {
		return nil
	}
	s, err := qs.store(name)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	return s.do(ctx, nil, func(tx *bolt.Tx, _ *queueConfig) error { return releaseTx(tx, receipts, now, wait, undo) })
}

// visibleCount counts the queue's visible messages, up to limit, in a
// read-only transaction: an idle poller writes nothing.
func (qs *queues) visibleCount(ctx context.Context, name string, limit int) (int, error) {
	s, err := qs.store(name)
	if err != nil {
		return 0, err
	}
	visible := 0
	now := time.Now()
	err = viewBolt(ctx, s.path, "queue "+name, "its messages are lost", func(tx *bolt.Tx) error {
		b := tx.Bucket(bktMsgs)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && visible < limit; k, v = c.Next() {
			var m struct {
				VisibleAt time.Time `json:"visibleAt"`
			}
			if json.Unmarshal(v, &m) == nil && !m.VisibleAt.After(now) {
				visible++
			}
		}
		return nil
	})
	return visible, err
}

// ensure creates queue name with the defaults if it does not exist.
func (qs *queues) ensure(ctx context.Context, name string) error {
	s, err := qs.store(name)
	if err != nil {
		return err
	}
	return s.do(ctx, nil, func(*bolt.Tx, *queueConfig) error { return nil })
}
