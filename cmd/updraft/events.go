package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/updraft-dev/updraft/provider/localprovider"
)

// The local event commands send to the queues, streams and buckets of a
// local:// state directory. They open the directory directly (no gateway
// needs to run): a host serving it, such as updraft dev, delivers what
// they send within its poll interval.

// eventDir is the state directory the event commands use: --dir, else
// the one the spec file's local:// targets name, else local://'s default.
func eventDir(g *globals, dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if path, err := g.specFile(); err == nil && path != "" {
		if svc, err := g.load(); err == nil {
			if locals := localTargets(svc, g.targets); len(locals) > 0 {
				return stateDir(locals, "")
			}
		}
	}
	return localprovider.DefaultDir()
}

// withLocalHost runs f with a host on the event commands' state
// directory, closed after it.
func withLocalHost(ctx context.Context, g *globals, dir string, f func(h *localprovider.Host) error) error {
	d, err := eventDir(g, dir)
	if err != nil {
		return g.fail(err)
	}
	h, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: d})
	if err != nil {
		return g.fail(err)
	}
	defer h.Close()
	return g.fail(f(h))
}

func queueCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "send to and inspect local:// queues",
		Long: `queue sends messages to the local queues that local:// queue triggers consume
(a trigger's source names its queue by its last element: the queue of
arn:aws:sqs:us-east-1:123456789012:orders is "orders"), and shows their counts
and messages, dead-letter queues included.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "state directory (default: the spec file's local:// targets', else local://'s default)")
	var group, dedup string
	var delay time.Duration
	var attrs []string
	send := &cobra.Command{
		Use:   "send QUEUE [BODY...]",
		Short: "send each BODY as a message (no BODY: one message read from stdin)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bodies [][]byte
			for _, a := range args[1:] {
				bodies = append(bodies, []byte(a))
			}
			if len(bodies) == 0 {
				b, err := io.ReadAll(io.LimitReader(os.Stdin, 256<<10+1))
				if err != nil {
					return g.fail(err)
				}
				bodies = append(bodies, bytes.TrimSuffix(b, []byte("\n")))
			}
			at := map[string]string{}
			for _, a := range attrs {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return usageErr("--attr %q: give NAME=VALUE", a)
				}
				at[k] = v
			}
			if len(at) == 0 {
				at = nil
			}
			msgs := make([]localprovider.QueueMessage, len(bodies))
			for i, b := range bodies {
				msgs[i] = localprovider.QueueMessage{Body: b, Attributes: at, GroupID: group, DeduplicationID: dedup, Delay: delay}
			}
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				ids, err := h.SendMessages(cmd.Context(), args[0], msgs...)
				if err != nil {
					return err
				}
				return g.emit(queueSendOutput{Queue: args[0], MessageIDs: ids}, func(w io.Writer) {
					for _, id := range ids {
						fmt.Fprintf(w, "sent %s to %s\n", id, args[0])
					}
				})
			})
		},
	}
	send.Flags().StringVar(&group, "group", "", "message group id (FIFO queues, names ending in .fifo)")
	send.Flags().StringVar(&dedup, "dedup", "", "deduplication id (FIFO queues; default: the body's hash)")
	send.Flags().DurationVar(&delay, "delay", 0, "hide the messages for this long (up to 15m)")
	send.Flags().StringArrayVar(&attrs, "attr", nil, "a string attribute NAME=VALUE (repeat)")
	stats := &cobra.Command{
		Use:   "stats QUEUE",
		Short: "show a queue's counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				st, err := h.QueueStats(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.emit(st, func(w io.Writer) {
					fmt.Fprintf(w, "%s: %d visible, %d in flight, %d delayed\n", st.Name, st.Visible, st.InFlight, st.Delayed)
					fmt.Fprintf(w, "  sent %d, received %d (%d redeliveries), deleted %d, dead-lettered %d, expired %d\n",
						st.Sent, st.Received, st.Redelivered, st.Deleted, st.DeadLettered, st.Expired)
					if st.DeadLetterQueue != "" {
						fmt.Fprintf(w, "  dead-letter queue %s after %d receives\n", st.DeadLetterQueue, st.MaxReceiveCount)
					}
				})
			})
		},
	}
	var max int
	peek := &cobra.Command{
		Use:   "peek QUEUE",
		Short: "show a queue's messages, oldest first, without receiving them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				msgs, err := h.PeekMessages(cmd.Context(), args[0], max)
				if err != nil {
					return err
				}
				res := make([]peekedMessage, len(msgs))
				for i, m := range msgs {
					res[i] = peekedMessage{m.ID, string(m.Body), m.Attributes, m.GroupID, m.Sent, m.Receives, m.From}
				}
				return g.emit(res, func(w io.Writer) {
					for _, m := range res {
						from := ""
						if m.From != "" {
							from = " from " + m.From
						}
						fmt.Fprintf(w, "%s  received %d×%s  %q\n", m.ID, m.Receives, from, m.Body)
					}
				})
			})
		},
	}
	peek.Flags().IntVar(&max, "max", 10, "most messages to show")
	cmd.AddCommand(send, stats, peek)
	return cmd
}

func streamCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "append changes to and inspect local:// change streams",
		Long: `stream appends item changes to the local change streams that local:// stream
triggers consume (the stream of a DynamoDB stream ARN is its table's name:
arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/… is "orders"), and
shows their records and each consumer's position.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "state directory (default: the spec file's local:// targets', else local://'s default)")
	appendCmd := &cobra.Command{
		Use:   "append STREAM [CHANGE...]",
		Short: `append each CHANGE, a JSON object such as {"op":"insert","key":{"id":"1"},"new":{"id":"1","total":5}} (no CHANGE: a change or an array of them from stdin)`,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var changes []localprovider.StreamChange
			parse := func(b []byte) error {
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber() // numbers stay decimal, as DynamoDB keeps them
				dec.DisallowUnknownFields()
				if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
					var cs []localprovider.StreamChange
					if err := dec.Decode(&cs); err != nil {
						return err
					}
					changes = append(changes, cs...)
					return nil
				}
				var c localprovider.StreamChange
				if err := dec.Decode(&c); err != nil {
					return err
				}
				changes = append(changes, c)
				return nil
			}
			inputs := args[1:]
			if len(inputs) == 0 {
				b, err := io.ReadAll(io.LimitReader(os.Stdin, 6<<20))
				if err != nil {
					return g.fail(err)
				}
				inputs = []string{string(b)}
			}
			for _, in := range inputs {
				if err := parse([]byte(in)); err != nil {
					return usageErr("change %q is not a change object (fields op, key, old, new): %v", in, err)
				}
			}
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				seqs, err := h.AppendChanges(cmd.Context(), args[0], changes...)
				if err != nil {
					return err
				}
				return g.emit(streamAppendOutput{Stream: args[0], SequenceNumbers: seqs}, func(w io.Writer) {
					for _, s := range seqs {
						fmt.Fprintf(w, "appended %s to %s\n", s, args[0])
					}
				})
			})
		},
	}
	stats := &cobra.Command{
		Use:   "stats STREAM",
		Short: "show a stream's records and its consumers' positions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				st, err := h.StreamStats(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.emit(st, func(w io.Writer) {
					fmt.Fprintf(w, "%s: %d records kept (appended %d, expired %d)\n", st.Name, st.Records, st.Appended, st.Expired)
					for _, c := range st.Consumers {
						fmt.Fprintf(w, "  %s/%s: lag %d, delivered %d, retries %d, discarded %d\n", c.Function, c.Trigger, c.Lag, c.Delivered, c.Retries, c.Discarded)
					}
				})
			})
		},
	}
	cmd.AddCommand(appendCmd, stats)
	return cmd
}

func bucketCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "bucket",
		Short: "find and inspect local:// buckets",
		Long: `bucket shows where a local bucket is (a directory: files created, overwritten
or deleted there are object events for the local:// storage triggers on the
bucket) and counts its objects and each trigger's events. A trigger's bucket
names it by its last element: arn:aws:s3:::photos and gs://photos are "photos".`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "state directory (default: the spec file's local:// targets', else local://'s default)")
	where := &cobra.Command{
		Use:   "dir BUCKET",
		Short: "print the bucket's directory, creating it if needed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				d, err := h.BucketDir(args[0])
				if err != nil {
					return err
				}
				return g.emit(bucketDirOutput{Bucket: args[0], Dir: d}, func(w io.Writer) { fmt.Fprintln(w, d) })
			})
		},
	}
	stats := &cobra.Command{
		Use:   "stats BUCKET",
		Short: "count the bucket's objects and its triggers' events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLocalHost(cmd.Context(), g, dir, func(h *localprovider.Host) error {
				st, err := h.StorageStats(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.emit(st, func(w io.Writer) {
					fmt.Fprintf(w, "%s (%s): %d objects, %d bytes\n", st.Bucket, st.Dir, st.Objects, st.Bytes)
					for _, c := range st.Consumers {
						fmt.Fprintf(w, "  %s/%s: %d pending, %d delivered, %d failed attempts, %d dropped\n", c.Function, c.Trigger, c.Pending, c.Delivered, c.Failed, c.Dropped)
					}
				})
			})
		},
	}
	cmd.AddCommand(where, stats)
	return cmd
}
