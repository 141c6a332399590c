package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind string

// The event kinds.
const (
	EventPlanned   EventKind = "planned"   // a target was read and planned
	EventApplied   EventKind = "applied"   // a target was applied (or found unchanged)
	EventStarted   EventKind = "started"   // a rollout started on a target (marker written)
	EventResumed   EventKind = "resumed"   // a rollout found its marker and resumes at Step
	EventDegraded  EventKind = "degraded"  // a canary runs as blue/green on a target without weighted traffic
	EventShifted   EventKind = "shifted"   // traffic moved to Percent on the candidate
	EventBaking    EventKind = "baking"    // waiting the bake interval before the gates
	EventGate      EventKind = "gate"      // a gate ran; see Gate and GateResult
	EventPromoted  EventKind = "promoted"  // the candidate took all traffic and the marker was cleared
	EventRollback  EventKind = "rollback"  // traffic moved back to the stable revision
	EventReverted  EventKind = "reverted"  // an interrupted rollout was reverted
	EventUnchanged EventKind = "unchanged" // nothing to do on a target
	EventPruned    EventKind = "pruned"    // a revision was deleted
	EventDestroyed EventKind = "destroyed" // a function was deleted
	EventFailed    EventKind = "failed"    // a step failed; see Err
)

// Gate results, as in Event.GateResult and GateOutcome.Result.
const (
	GatePassed  = "passed"
	GateFailed  = "failed"
	GateSkipped = "skipped"
)

// Event is one progress report. Messages never hold secret values.
type Event struct {
	// Time is when it happened; Elapsed is the time since the workflow began.
	Time    time.Time     `json:"time"`
	Elapsed time.Duration `json:"elapsed"`
	// Kind says what happened.
	Kind EventKind `json:"kind"`
	// Rollout is the rollout id, for rollout events.
	Rollout string `json:"rollout,omitempty"`
	// Target names the function (such as "mem://hello"); "" for events
	// about the whole workflow.
	Target string `json:"target,omitempty"`
	// Step and Steps count a rollout's steps from 1; Percent is the
	// candidate's share of traffic at Step.
	Step    int `json:"step,omitempty"`
	Steps   int `json:"steps,omitempty"`
	Percent int `json:"percent"`
	// Stable and Candidate are the revisions of a rollout.
	Stable    string `json:"stable,omitempty"`
	Candidate string `json:"candidate,omitempty"`
	// Gate and GateResult (GatePassed, GateFailed, GateSkipped) report a gate.
	Gate       string `json:"gate,omitempty"`
	GateResult string `json:"gateResult,omitempty"`
	// Message says what happened in words.
	Message string `json:"message,omitempty"`
	// Err is the failure, for EventFailed and failed gates.
	Err error `json:"-"`
}

// String is a one-line rendering, like the CLI's plain progress lines.
func (e Event) String() string {
	s := fmt.Sprintf("%7s %-9s", e.Elapsed.Round(time.Millisecond), e.Kind)
	if e.Target != "" {
		s += " " + e.Target
	}
	if e.Steps > 0 {
		s += fmt.Sprintf(" step %d/%d %d%%", e.Step, e.Steps, e.Percent)
	}
	if e.Gate != "" {
		s += fmt.Sprintf(" gate %s %s", e.Gate, e.GateResult)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// emitter sends events to a callback and a logger, one at a time.
type emitter struct {
	mu      sync.Mutex
	start   time.Time
	rollout string
	log     *slog.Logger
	onEvent func(Event)
	red     *redactor
}

func newEmitter(log *slog.Logger, onEvent func(Event), red *redactor) *emitter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &emitter{start: time.Now(), log: log, onEvent: onEvent, red: red}
}

func (em *emitter) emit(e Event) {
	em.mu.Lock()
	defer em.mu.Unlock()
	e.Time = time.Now()
	e.Elapsed = e.Time.Sub(em.start)
	if e.Rollout == "" {
		e.Rollout = em.rollout
	}
	e.Message = em.red.scrub(e.Message)
	e.Err = em.red.scrubErr(e.Err)
	level := slog.LevelInfo
	if e.Kind == EventFailed || e.GateResult == GateFailed || e.Kind == EventRollback {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("kind", string(e.Kind))}
	if e.Rollout != "" {
		attrs = append(attrs, slog.String("rollout", e.Rollout))
	}
	if e.Target != "" {
		attrs = append(attrs, slog.String("target", e.Target))
	}
	if e.Steps > 0 {
		attrs = append(attrs, slog.Int("step", e.Step), slog.Int("steps", e.Steps), slog.Int("percent", e.Percent))
	}
	if e.Candidate != "" {
		attrs = append(attrs, slog.String("stable", e.Stable), slog.String("candidate", e.Candidate))
	}
	if e.Gate != "" {
		attrs = append(attrs, slog.String("gate", e.Gate), slog.String("result", e.GateResult))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	attrs = append(attrs, slog.Duration("elapsed", e.Elapsed))
	msg := e.Message
	if msg == "" {
		msg = string(e.Kind)
	}
	em.log.LogAttrs(context.Background(), level, msg, attrs...)
	if em.onEvent != nil {
		em.onEvent(e)
	}
}

// warn logs a record that is not an event (no OnEvent call).
func (em *emitter) warn(target, msg string, err error) {
	em.log.LogAttrs(context.Background(), slog.LevelWarn, em.red.scrub(msg), slog.String("rollout", em.rollout),
		slog.String("target", target), slog.String("error", em.red.scrubErr(err).Error()))
}
