package localprovider

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// scheduler runs a function's schedule triggers on this host while it is
// open, invoking the trigger route as EventBridge Scheduler would.
type scheduler struct {
	fr    *fnRuntime
	mu    sync.Mutex
	c     *cron.Cron
	ts    []trigger.Schedule
	route string
}

var cronSpecParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// update replaces the running schedules with those among ts.
func (s *scheduler) update(ts []trigger.Trigger, route string) {
	var want []trigger.Schedule
	for _, t := range ts {
		if st, ok := t.(trigger.Schedule); ok {
			want = append(want, st)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reflect.DeepEqual(want, s.ts) && route == s.route {
		return
	}
	if s.c != nil {
		s.c.Stop()
		s.c = nil
	}
	s.ts, s.route = want, route
	if len(want) == 0 || s.fr.h.isClosed() {
		return
	}
	c := cron.New(cron.WithParser(cronSpecParser))
	for _, st := range want {
		spec := st.Cron
		if st.Rate > 0 {
			spec = "@every " + st.Rate.String()
		}
		if st.TimeZone != "" && st.Cron != "" {
			spec = "CRON_TZ=" + st.TimeZone + " " + spec
		}
		if _, err := c.AddFunc(spec, func() { s.fire(st, route) }); err != nil {
			s.fr.h.opts.Logger.Warn("schedule not started", "function", s.fr.name, "trigger", st.Key, "err", err)
		}
	}
	c.Start()
	s.c = c
}

func (s *scheduler) fire(st trigger.Schedule, route string) {
	fr := s.fr
	defer fr.h.recovered("scheduled invocation", "function", fr.name, "trigger", st.Key)
	payload := st.Payload
	if payload == nil {
		now := time.Now().UTC()
		payload = fmt.Appendf(nil, `{"version":"0","id":%q,"detail-type":"Scheduled Event","source":"aws.events","account":"000000000000","time":%q,"region":"local","resources":["arn:aws:scheduler:local:000000000000:schedule/default/%s-%s"],"detail":{}}`,
			fr.h.ids.next(), now.Format(time.RFC3339), fr.name, st.Key)
	}
	res, err := fr.invoke(fr.h.ctx, &driver.InvokeRequest{Route: route, Payload: payload})
	switch {
	case err != nil:
		fr.h.opts.Logger.Warn("scheduled invocation failed", "function", fr.name, "trigger", st.Key, "err", err)
	case res.FunctionError != "":
		fr.h.opts.Logger.Warn("scheduled invocation returned an error", "function", fr.name, "trigger", st.Key, "error", res.FunctionError)
	}
}
