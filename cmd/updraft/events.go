package main

import (
	"bytes"
	"context"
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
				return g.emit(map[string]any{"queue": args[0], "messageIds": ids}, func(w io.Writer) {
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
				type out struct {
					ID         string            `json:"id"`
					Body       string            `json:"body"`
					Attributes map[string]string `json:"attributes,omitempty"`
					Group      string            `json:"group,omitempty"`
					Sent       time.Time         `json:"sent"`
					Receives   int               `json:"receives"`
					From       string            `json:"from,omitempty"`
				}
				res := make([]out, len(msgs))
				for i, m := range msgs {
					res[i] = out{m.ID, string(m.Body), m.Attributes, m.GroupID, m.Sent, m.Receives, m.From}
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
